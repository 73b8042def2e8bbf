"""DunningFlow's whole ladder on the time-skipping server (days skipped, not waited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import CreditMemoPosting, JournalPosting, PaymentPosting
from canonical.money import Money
from tests.unit.flows_harness import (
    World,
    annual,
    fail_payment,
    fresh_ts_env,
    gross,
    quiet,
    running,
    send,
    until,
)
from workflows.dunning import DunningFlow
from workflows.subscription_state import SubscriptionView

DAY = dt.timedelta(days=1)
FEB_1 = dt.date(2026, 2, 1)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


def dunning_waits(view: SubscriptionView) -> bool:
    return any(c.flow == "dunning" and c.waiting_until for c in view.children)


async def test_ladder_ends_in_cancellation_and_write_off_when_every_retry_fails(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_wo")
    fail_payment(life, "in_sub_wo", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_wo"] = 99
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        view = await until(handle, lambda v: v.state == "Cancelled", env, DAY)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_wo")
        result = await dunning.result()
    assert result.state == "WrittenOff" and result.attempts == 3
    assert [a.attempted_on for a in world.payments.attempts] == [
        dt.date(2026, 2, 4), dt.date(2026, 2, 6), dt.date(2026, 2, 8)]
    assert world.crm.kinds("sub_wo") == [
        "dunning_payment_failed", "dunning_retry_failed", "dunning_retry_failed",
        "dunning_suspended", "dunning_retry_failed", "dunning_written_off"]
    assert world.provisioning.calls == ["grant", "suspended", "revoked"]
    # unused service from Feb 8 (327 of 365 days) is credited, the rest written off
    memo = world.erp.document("cm:sub_wo-cancel", CreditMemoPosting).credit_memo
    assert memo.total == Money.of("1182.58", "USD")
    assert result.written_off == Money.of("137.42", "USD")
    write_off = world.erp.document("wo:in_sub_wo", JournalPosting)
    assert write_off.entry.posting_date == dt.date(2026, 2, 8)
    balances = world.erp.balances()
    assert "1200" not in balances  # AR of the invoice is settled by credit + write-off
    assert balances["6200"] == Decimal("137.42")
    assert world.erp.receipts["ctr:sub_wo:2026-01-01"].status == "cancelled"
    assert [i.status for i in view.invoices] == ["written_off"]
    assert view.amount_due == {"USD": Decimal("0.00")}


async def test_payment_ends_the_ladder_and_restores_suspended_entitlements(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_rec")
    fail_payment(life, "in_sub_rec", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_rec"] = 99
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_rec")
        for _ in range(100):  # skip days until the middle attempt has suspended
            if (await dunning.query(DunningFlow.state)).suspended:
                break
            await env.sleep(DAY)
        life.pay("py_sub_rec", "in_sub_rec", gross("1200.00"), dt.date(2026, 2, 7))
        await send(env.client, config, life.events[-1:])
        result = await dunning.result()
        view = await until(handle, lambda v: v.state == "Active" and quiet(4)(v))
    assert (result.state, result.paid_by, result.attempts) == ("Recovered", "py_sub_rec", 2)
    assert world.provisioning.calls == ["grant", "suspended", "granted"]
    assert world.crm.kinds("sub_rec")[-1] == "dunning_payment_received"
    assert view.amount_due == {"USD": Decimal("0.00")}
    assert "wo:in_sub_rec" not in world.erp.documents


async def test_a_collected_retry_posts_the_payment_and_recovers(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_col")
    fail_payment(life, "in_sub_col", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_col"] = 1  # attempt 1 declined, attempt 2 collects
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        waiting = await until(handle, dunning_waits)
        view = await until(handle, lambda v: v.state == "Active" and not v.children, env, DAY)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_col")
        history = await dunning.fetch_history()
    payment = world.erp.document("pay:py_dun_in_sub_col_2", PaymentPosting).payment
    assert (payment.amount, payment.received_on) == (gross("1200.00"), dt.date(2026, 2, 6))
    assert view.invoices[0].status == "paid"
    assert world.provisioning.calls == ["grant"]  # never suspended
    assert waiting.next_action_at == waiting.children[0].waiting_until
    # Reports cost a workflow task in both workflows: the waits and the end are told,
    # not each wait's end (dunning-reports-waits-only).
    reports = [e for e in history.events if e.HasField(
        "signal_external_workflow_execution_initiated_event_attributes")]
    assert len(reports) == 3  # waiting for attempt 1, waiting for attempt 2, the end


async def test_failure_of_a_paid_invoice_starts_no_dunning(ts_env: WorkflowEnvironment,
                                                           task_queue: str) -> None:
    world, life = World(), annual("sub_paid")
    life.pay("py_sub_paid", "in_sub_paid", gross("1200.00"), dt.date(2026, 1, 5))
    fail_payment(life, "in_sub_paid", gross("1200.00"), FEB_1)
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(4))
    assert [f.kind for f in view.findings] == ["PaymentFailedButPaid"]
    assert view.children == [] and view.state == "Active"


async def test_payment_after_write_off_reverses_the_write_off_first(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_late_pay")
    fail_payment(life, "in_sub_late_pay", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_late_pay"] = 99
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        await until(handle, lambda v: v.state == "Cancelled", env, DAY)
        life.pay("py_late", "in_sub_late_pay", Money.of("137.42", "USD"), dt.date(2026, 3, 1))
        await send(env.client, config, life.events[-1:])
        view = await until(handle, quiet(4))
    assert world.erp.reversals == {"rev-wo:in_sub_late_pay": "wo:in_sub_late_pay"}
    assert "PaymentAfterWriteOff" in [f.kind for f in view.findings]
    assert view.amount_due == {"USD": Decimal("0.00")}
    assert "6200" not in world.erp.balances()  # the bad debt is recovered

