"""Cancellation: the `request_cancellation` update, the effective-date timer, compensation."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import CreditMemoPosting
from canonical.errors import RejectedError
from canonical.money import Money
from tests.unit.flows_harness import (
    World,
    annual,
    cancel,
    fresh_ts_env,
    gross,
    quiet,
    running,
    send,
    until,
)
from workflows.cancellation import CancellationFlow
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_state import CancellationRequest

DAY = dt.timedelta(days=1)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


async def test_request_at_end_of_term_quotes_the_balance_and_cancels_on_the_term_end(
        env: WorkflowEnvironment, task_queue: str) -> None:
    start = (await env.get_current_time()).date().replace(day=1)
    world, life = World(), annual("sub_eot", start)
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, quiet(2))
        quote = await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                            CancellationRequest(request_id="r1"))
        view = await until(handle, lambda v: v.state == "Cancelling" and not v.busy)
        assert world.provisioning.status["sub_eot"].status == "granted"  # not before the date
        view = await until(handle, lambda v: v.state == "Cancelled", env, 30 * DAY)
    assert quote.effective_on == life.subscription.term_end
    assert quote.final_invoice_amount == quote.open_balance == gross("1200.00")
    assert quote.credit == Money.zero("USD")
    assert world.provisioning.status["sub_eot"].status == "revoked"
    assert world.erp.receipts[f"ctr:sub_eot:{start.isoformat()}"].status == "cancelled"
    assert not any(k.startswith("cm:") for k in world.erp.documents)
    assert view.amount_due == {"USD": Decimal("1320.00")}


async def test_immediate_prorated_request_credits_what_it_quoted(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_now")
    life.pay("py_sub_now", "in_sub_now", gross("1200.00"), dt.date(2026, 1, 5))
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        await until(handle, quiet(3))
        quote = await handle.execute_update(
            SubscriptionWorkflow.request_cancellation,
            CancellationRequest(request_id="r2", effective_on=dt.date(2026, 7, 2),
                                prorate=True))
        view = await until(handle, lambda v: v.state == "Cancelled" and not v.busy)
    # 183 of 365 days unused: 601.64 + 60.16 credited; the customer is owed that
    assert quote.credit == Money.of("661.80", "USD")
    assert quote.final_invoice_amount == Money.of("-661.80", "USD")
    memo = world.erp.document("cm:sub_now-cancel", CreditMemoPosting).credit_memo
    assert memo.total == quote.credit
    assert view.amount_due == {"USD": quote.final_invoice_amount.amount}
    assert world.erp.balances()["1200"] == Decimal("-661.80")


async def test_request_on_a_cancelled_subscription_is_rejected(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_rej")
    cancel(life, dt.date(2026, 3, 1))
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled" and not v.busy)
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                        CancellationRequest(request_id="r3"))
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "subscription.not_cancellable"


STEPS = [  # (sub id, where it fails, compensations that ran, newest first)
    ("sub_k1", "cm", ["reverse cm:sub_k1-cancel", "reverse sche:in_sub_k1:in_sub_k1-1:cancel"]),
    ("sub_k2", "revoke", ["reverse cm:sub_k2-cancel",
                          "reverse sche:in_sub_k2:in_sub_k2-1:cancel"]),
    ("sub_k3", "contract", ["reverse cm:sub_k3-cancel",
                            "reverse sche:in_sub_k3:in_sub_k3-1:cancel"]),
]


@pytest.mark.parametrize(("sub_id", "where", "compensations"), STEPS)
async def test_permanent_failure_of_a_cancellation_step_is_compensated(
        ts_env: WorkflowEnvironment, task_queue: str, sub_id: str, where: str,
        compensations: list[str]) -> None:
    world, life = World(), annual(sub_id)
    no = RejectedError("refused", system="erp")
    if where == "cm":
        world.erp.fail_ids[f"cm:{sub_id}-cancel"] = no
    elif where == "revoke":
        world.provisioning.fail_on["revoked"] = no
    else:
        world.erp.fail_cancel[f"ctr:{sub_id}:2026-01-01"] = no
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        await until(handle, quiet(2))
        ledger = world.erp.balances()
        await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                    CancellationRequest(request_id="k", prorate=True,
                                                        effective_on=dt.date(2026, 7, 2)))
        flow = ts_env.client.get_workflow_handle_for(CancellationFlow.run,
                                                     f"cancellation-{sub_id}")
        view = await until(handle, lambda v: v.parked)
        audit = await flow.query(CancellationFlow.audit_trail)
        state = await flow.query(CancellationFlow.state)
    ran = [a.note.removeprefix("compensated: ") for a in audit
           if a.note.startswith("compensated: ")]
    assert (state, ran) == ("Compensated", compensations)
    assert world.erp.balances() == ledger
    assert view.state == "Cancelling"
