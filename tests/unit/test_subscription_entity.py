"""The subscription entity: bounded dedup across continue-as-new, late events, queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import CreditMemoPosting
from canonical.events import BusinessKeys, InvoiceVoided, InvoiceVoidedEvent
from canonical.money import Money
from devstack import streams
from tests.unit.flows_harness import (
    World,
    amend,
    annual,
    cancel,
    fresh_ts_env,
    gross,
    monthly,
    quiet,
    running,
    send,
    until,
    until_new_run,
)
from workflows.subscription import SubscriptionWorkflow


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test here: these tests continue-as-new and skip the gap
    wait, and on the shared server they sometimes stalled a later test's entity."""
    async with fresh_ts_env() as env:
        yield env


async def test_dedup_survives_continue_as_new_and_the_window_stays_bounded(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), monthly("sub_can", 11)
    async with running(ts_env.client, task_queue, world, continue_as_new_after_events=4,
                       seen_event_ids_max=10) as config:
        handle = await send(ts_env.client, config, life.events[:4])
        await until(handle, quiet(4))
        await send(ts_env.client, config, life.events)  # 4 repeats, 8 new
        applied = (await until(handle, quiet(12))).events_applied
        described = await ts_env.client.get_workflow_handle(handle.id).describe()
        # the first event id left the bounded window: its invoice is caught by business key
        await send(ts_env.client, config, life.events[1:2])
        view = await until(handle, lambda v: any(f.kind == "DuplicateDocument"
                                                 for f in v.findings))
        audit = await handle.query(SubscriptionWorkflow.audit_trail)
    assert described.run_id != described.raw_description.workflow_execution_info.first_run_id
    assert applied == 12
    assert sum(1 for k in world.erp.kinds() if k == "invoice") == 11
    assert {f.kind for f in view.findings} == {"LateEvent", "DuplicateDocument"}
    assert any(a.note.startswith("finding DuplicateDocument") for a in audit)


async def test_gap_finding_lands_in_the_audit_trail_and_pending_shows_the_wait(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_gap")
    life.pay("py_sub_gap", "in_sub_gap", gross("1200.00"), dt.date(2026, 1, 5))
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, [life.events[0], life.events[2]])
        await until(handle, lambda v: v.events_applied == 1 and not v.busy)
        pending = await handle.query(SubscriptionWorkflow.pending)
        await ts_env.sleep(dt.timedelta(seconds=601))
        await until(handle, lambda v: bool(v.findings))
        audit = await handle.query(SubscriptionWorkflow.audit_trail)
    assert [(p.event_id, p.waiting_for) for p in pending] == [
        ("evt_sub_gap_pay_py_sub_gap", "sequence 2")]
    gap = [a for a in audit if a.note.startswith("finding SequenceGap")]
    assert gap and gap[0].event_id == "evt_sub_gap_pay_py_sub_gap"


def two_amendments(sub_id: str) -> streams.Lifecycle:
    life = annual(sub_id)
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    amend(life, 2, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "3600.00")
    return life


async def test_late_amendment_reverses_the_later_one_and_reapplies_it(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    late_world, late = World(), two_amendments("sub_lam")
    clean_world, clean = World(), two_amendments("sub_lam_in_order")
    async with running(ts_env.client, task_queue, clean_world) as config:
        in_order = await until(await send(ts_env.client, config, clean.events), quiet(4))
    async with running(ts_env.client, f"{task_queue}-late", late_world) as config:
        handle = await send(ts_env.client, config, [*late.events[:2], late.events[3]])
        await until(handle, lambda v: v.events_applied == 2 and not v.busy)
        await ts_env.sleep(dt.timedelta(seconds=601))  # the gap wait ends: am 2 applies
        await until(handle, quiet(3))
        await send(ts_env.client, config, late.events[2:3])  # am 1 arrives late
        view = await until(handle, quiet(4))
    assert [f.kind for f in view.findings] == ["SequenceGap", "LateEvent", "LateAmendment"]
    docs = late_world.erp.documents
    assert {"cm:cm_sub_lam_1", "cm:cm_sub_lam_2", "cm:cm_sub_lam_2~2",
            "inv:in_sub_lam_a2~2"} <= set(docs)
    assert late_world.erp.reversals["rev-cm:cm_sub_lam_2"] == "cm:cm_sub_lam_2"
    # the second amendment now credits the first's rebill, as in order
    memo = late_world.erp.document("cm:cm_sub_lam_2~2", CreditMemoPosting).credit_memo
    assert memo.invoice_id == "in_sub_lam_a1"
    assert late_world.erp.balances() == clean_world.erp.balances()
    assert view.amount_due == in_order.amount_due
    assert {i.invoice_id: i.status for i in view.invoices}["in_sub_lam_a2"] == "posted"


async def test_void_reverses_the_invoice_and_its_schedule(ts_env: WorkflowEnvironment,
                                                          task_queue: str) -> None:
    world, life = World(), annual("sub_void")
    life.events.append(InvoiceVoidedEvent(
        event_id="evt_sub_void_void", occurred_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        source="billing", sequence=3, correlation_id="corr_sub_void",
        keys=BusinessKeys(subscription_id="sub_void"),
        payload=InvoiceVoided(invoice_id="in_sub_void", voided_on=dt.date(2026, 1, 2),
                              reason="issued in error")))
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(3))
    assert world.erp.reversals == {"rev-inv:in_sub_void": "inv:in_sub_void",
                                   "rev-sch:in_sub_void:in_sub_void-1":
                                   "sch:in_sub_void:in_sub_void-1"}
    assert [i.status for i in view.invoices] == ["voided"]
    assert view.amount_due == {"USD": Decimal("0.00")}
    assert world.erp.balances() == {}


async def test_late_amendment_reverses_a_paid_later_rebill_and_carries_its_payment(
        task_queue: str) -> None:
    # Its own time-skipping server: it moves time and runs reversals that the shared one
    # should not carry into the tests after it.
    async with fresh_ts_env() as ts_env:
        await _late_paid_rebill(ts_env, task_queue)


async def _late_paid_rebill(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    late_world, late = World(), two_amendments("sub_lap")
    clean_world, clean = World(), two_amendments("sub_lap_in_order")
    for life in (late, clean):  # part of the second amendment's rebill is paid
        life.pay(f"py_{life.subscription_id}", f"in_{life.subscription_id}_a2",
                 gross("500.00"), dt.date(2026, 10, 5))
    async with running(ts_env.client, task_queue, clean_world) as config:
        in_order = await until(await send(ts_env.client, config, clean.events), quiet(5))
    async with running(ts_env.client, f"{task_queue}-late", late_world) as config:
        handle = await send(ts_env.client, config, [*late.events[:2], *late.events[3:]])
        await until(handle, lambda v: v.events_applied == 2 and not v.busy)
        await ts_env.sleep(dt.timedelta(seconds=601))  # the gap wait ends: am 2, pay apply
        await until(handle, quiet(4))
        await send(ts_env.client, config, late.events[2:3])  # am 1 arrives late
        view = await until(handle, quiet(5))
    assert [f.kind for f in view.findings] == ["SequenceGap", "LateEvent", "LateAmendment"]
    assert "stay with the customer" in view.findings[-1].detail
    assert late_world.erp.reversals["rev-inv:in_sub_lap_a2"] == "inv:in_sub_lap_a2"
    assert {"inv:in_sub_lap_a2~2", "cm:cm_sub_lap_2~2", "pay:py_sub_lap"} <= set(
        late_world.erp.documents)
    assert late_world.erp.balances() == clean_world.erp.balances()
    assert view.amount_due == in_order.amount_due
    rebill = {i.invoice_id: i for i in view.invoices}["in_sub_lap_a2"]
    clean_rebill = {i.invoice_id: i for i in in_order.invoices}["in_sub_lap_in_order_a2"]
    assert (rebill.status, rebill.payments) == ("partially_paid", ["py_sub_lap"])
    assert (rebill.total, rebill.paid) == (clean_rebill.total, clean_rebill.paid)


async def test_cancellation_effective_before_an_applied_amendment_reverses_it(
        task_queue: str) -> None:
    # Its own time-skipping server: it moves time and runs reversals that the shared one
    # should not carry into the tests after it.
    async with fresh_ts_env() as ts_env:
        await _late_cancellation(ts_env, task_queue)


async def _late_cancellation(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    late_world, late = World(), annual("sub_lcan")
    clean_world, clean = World(), annual("sub_lcan_clean")
    amend(late, 1, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "2400.00")
    for life in (late, clean):
        cancel(life, dt.date(2026, 9, 1))
    async with running(ts_env.client, task_queue, clean_world) as config:
        in_order = await until(await send(ts_env.client, config, clean.events),
                               lambda v: v.state == "Cancelled" and quiet(3)(v))
    async with running(ts_env.client, f"{task_queue}-late", late_world) as config:
        handle = await send(ts_env.client, config, late.events)
        view = await until(handle, lambda v: v.state == "Cancelled" and quiet(4)(v))
    assert [f.kind for f in view.findings] == ["LateCancellation"]
    assert {"rev-cm:cm_sub_lcan_1", "rev-inv:in_sub_lcan_a1"} <= set(late_world.erp.reversals)
    assert late_world.erp.balances() == clean_world.erp.balances()
    assert view.amount_due == in_order.amount_due
    assert {i.invoice_id: i.status for i in view.invoices}["in_sub_lcan_a1"] == "voided"


async def test_an_idle_entity_continues_as_new_once_and_the_next_event_lands_in_the_new_run(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), monthly("sub_idle", 12)
    async with running(ts_env.client, task_queue, world, idle_continue_as_new_s=600) as config:
        handle = await send(ts_env.client, config, life.events[:3])
        await until(handle, quiet(3))
        # a short run does not idle out
        await ts_env.sleep(dt.timedelta(seconds=601))
        busy_run = handle.result_run_id
        assert (await handle.describe()).run_id == busy_run
        for n in range(3, 12):  # one event at a time: a run long enough to idle out
            await send(ts_env.client, config, life.events[n:n + 1])
            await until(handle, quiet(n + 1))
        await ts_env.sleep(dt.timedelta(seconds=601))
        idle_run = (await until_new_run(handle, busy_run)).run_id
        # the fresh run is short: it waits for work without an idle timer of its own
        await ts_env.sleep(dt.timedelta(seconds=1801))
        assert (await handle.describe()).run_id == idle_run
        await send(ts_env.client, config, life.events)  # repeats and the last invoice
        view = await until(handle, quiet(13))
        audit = await handle.query(SubscriptionWorkflow.audit_trail)
    assert view.events_applied == 13 and view.state == "Active"
    assert sum(1 for k in world.erp.kinds() if k == "invoice") == 12  # dedup carried over
    assert (await handle.describe()).run_id == idle_run
    assert len({a.event_id for a in audit if a.event_id}) == 13  # the trail carried over


async def test_a_run_that_only_activated_continues_as_new_and_the_next_event_lands_after(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), monthly("sub_fresh", 2)
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events[:1])
        activated_run = handle.result_run_id
        assert activated_run
        fresh = await until_new_run(handle, activated_run)
        await send(ts_env.client, config, life.events[1:2])
        view = await until(handle, quiet(2))
        invoices = sum(1 for k in world.erp.kinds() if k == "invoice")
        old = await ts_env.client.get_workflow_handle(handle.id,
                                                      run_id=activated_run).fetch_history()
        new = await ts_env.client.get_workflow_handle(handle.id,
                                                      run_id=fresh.run_id).fetch_history()
        # activation and an invoice arriving together stay in one run
        both = await send(ts_env.client, config, monthly("sub_both", 2).events[:2])
        await until(both, quiet(2))
        both_runs = await both.describe()
    assert old.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    assert not any(e.HasField("marker_recorded_event_attributes") for e in new.events[:4])
    assert view.state == "Active" and view.events_applied == 2
    assert (await handle.describe()).run_id == fresh.run_id  # the invoice did not move it on
    assert invoices == 1
    assert both_runs.run_id == both_runs.raw_description.workflow_execution_info.first_run_id


async def test_a_document_in_another_currency_than_its_invoice_is_a_finding_not_a_crash(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    """A payment, a refund or a credit memo whose currency is not its invoice's cannot
    move that receivable: it is recorded as an IllegalEvent and the entity goes on (it
    failed its workflow task for good before, blocking every later event)."""
    world, life = World(), annual("sub_fx_doc")
    life.pay("py_eur", "in_sub_fx_doc", Money.of("100.00", "EUR"), dt.date(2026, 1, 20))
    life.credit("cm_eur", "in_sub_fx_doc", Money.of("50.00", "EUR"), dt.date(2026, 1, 21))
    life.pay("py_usd", "in_sub_fx_doc", Money.of("100.00", "USD"), dt.date(2026, 1, 22))
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(5))
    assert [(f.kind, f.detail) for f in view.findings] == [
        ("IllegalEvent", "payment py_eur is in EUR, invoice in_sub_fx_doc in USD; recorded, "
                         "not applied"),
        ("IllegalEvent", "credit memo cm_eur is in EUR, invoice in_sub_fx_doc in USD; "
                         "recorded, not applied")]
    assert sum(1 for k in world.erp.kinds() if k == "payment") == 1  # the USD one
    (invoice,) = view.invoices
    assert invoice.paid == Money.of("100.00", "USD")
