"""A scheduled cancellation (Stripe's cancel_at_period_end) waits, can be withdrawn, and the
billing system's final cancellation of the same date is noted, not refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical.events import SubscriptionCancelled, SubscriptionCancelledEvent
from devstack import streams
from tests.unit.flows_harness import World, _env, annual, fresh_ts_env, quiet, running, send, until
from workflows.cancellation import CancellationFlow

START, END_OF_PERIOD = dt.date(2026, 12, 1), dt.date(2027, 3, 1)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


def cancelled(life: streams.Lifecycle, suffix: str, *, withdrawn: bool = False) -> None:
    at = dt.datetime(2026, 12, 10, 8, tzinfo=dt.UTC)
    life.events.append(SubscriptionCancelledEvent(
        **_env(life, suffix, at), payload=SubscriptionCancelled(
            subscription_id=life.subscription_id, effective_on=END_OF_PERIOD,
            reason="cancel_at_period_end", withdrawn=withdrawn)))


async def test_withdrawn_cancellation_ends_its_flow_and_the_subscription_goes_on(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_wd", START)
    cancelled(life, "cancel_at")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelling" and quiet(3)(v))
        cancelled(life, "cancel_withdrawn", withdrawn=True)
        await send(env.client, config, life.events[-1:])
        flow = env.client.get_workflow_handle_for(CancellationFlow.run, "cancellation-sub_wd")
        result = await flow.result()
        view = await until(handle, lambda v: v.state == "Active" and quiet(4)(v))
    assert result.state == "Withdrawn"
    assert world.provisioning.calls == ["grant"]  # never revoked
    assert "cm:sub_wd-cancel" not in world.erp.documents and view.findings == []


async def test_final_cancellation_of_the_scheduled_date_is_noted_not_refused(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_end", START)
    cancelled(life, "cancel_at")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled", env, dt.timedelta(days=7))
        cancelled(life, "deleted")  # Stripe's customer.subscription.deleted at that date
        await send(env.client, config, life.events[-1:])
        view = await until(handle, quiet(4))
    assert view.state == "Cancelled" and view.findings == []
    assert world.provisioning.calls == ["grant", "revoked"]


async def test_withdrawal_without_a_waiting_cancellation_is_an_illegal_event(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_nothing", START)
    cancelled(life, "cancel_withdrawn", withdrawn=True)
    async with running(env.client, task_queue, world) as config:
        view = await until(await send(env.client, config, life.events), quiet(3))
    assert [f.kind for f in view.findings] == ["IllegalEvent"] and view.state == "Active"
