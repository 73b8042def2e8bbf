"""AmendmentFlow (credit-and-rebill) through the entity, on the time-skipping server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import CreditMemoPosting, InvoicePosting, ScheduleEnd
from canonical.errors import InvalidDataError, RejectedError
from canonical.subscription import ProrationBasis
from tests.unit.flows_harness import (
    World,
    amend,
    annual,
    gross,
    parked_step,
    quiet,
    running,
    send,
    until,
)
from workflows.amendment import AmendmentFlow
from workflows.subscription import SubscriptionWorkflow

JUL_2 = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)  # 183 of 365 days left in the 2026 term


async def test_upgrade_credits_the_unused_part_and_rebills_the_rest(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_up")
    amend(life, 1, JUL_2, "2400.00")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(3))
    docs = world.erp.documents
    memo = world.erp.document("cm:cm_sub_up_1", CreditMemoPosting).credit_memo
    rebill = world.erp.document("inv:in_sub_up_a1", InvoicePosting).invoice
    # 1200 * 183/365 = 601.64 credited with 10 % tax; 2400 * 183/365 = 1203.29 rebilled
    assert (memo.subtotal.amount, memo.tax_total.amount) == (Decimal("601.64"),
                                                             Decimal("60.16"))
    assert (rebill.subtotal.amount, rebill.tax_total.amount) == (Decimal("1203.29"),
                                                                 Decimal("120.33"))
    end = world.erp.document("sche:in_sub_up:in_sub_up-1:am_sub_up_1", ScheduleEnd)
    assert end.end_on == JUL_2.date()
    assert "sch:in_sub_up_a1:in_sub_up_a1-1" in docs
    assert list(docs)[-4:] == ["sche:in_sub_up:in_sub_up-1:am_sub_up_1", "cm:cm_sub_up_1",
                               "inv:in_sub_up_a1", "sch:in_sub_up_a1:in_sub_up_a1-1"]
    # AR = 1320 - 661.80 + 1323.62; deferred revenue ties to the schedules that remain
    assert view.amount_due == {"USD": Decimal("1981.82")}
    balances = world.erp.balances()
    assert balances["1200"] == Decimal("1981.82")
    released = world.erp.receipts["sche:in_sub_up:in_sub_up-1:am_sub_up_1"].amount
    assert released is not None
    assert balances["2400"] == -(Decimal("1200.00") - released.amount + Decimal("1203.29"))
    assert view.state == "Active"


async def test_two_amendments_in_one_period_credit_the_rebill_of_the_first(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_two")
    amend(life, 1, JUL_2, "2400.00")
    amend(life, 2, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "3600.00")  # 92 days left
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(4))
    docs = world.erp.documents
    second = world.erp.document("cm:cm_sub_two_2", CreditMemoPosting).credit_memo
    assert second.invoice_id == "in_sub_two_a1"  # the first rebill is what is credited now
    assert second.subtotal.amount == Decimal("604.93")  # 2400 * 92/365
    rebill = world.erp.document("inv:in_sub_two_a2", InvoicePosting).invoice
    assert rebill.subtotal.amount == Decimal("907.40")
    assert "sche:in_sub_two_a1:in_sub_two_a1-1:am_sub_two_2" in docs
    assert [i.invoice_id for i in view.invoices] == ["in_sub_two", "in_sub_two_a1",
                                                     "in_sub_two_a2"]


async def test_downgrade_yields_a_net_credit(ts_env: WorkflowEnvironment,
                                             task_queue: str) -> None:
    world, life = World(), annual("sub_down")
    life.pay("py_sub_down", "in_sub_down", gross("1200.00"), dt.date(2026, 1, 5))
    amend(life, 1, JUL_2, "600.00", basis=ProrationBasis.DAYS)
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(4))
    # credit 601.64 + 60.16, rebill 300.82 + 30.08: the customer is owed 330.90
    assert view.amount_due == {"USD": Decimal("-330.90")}
    assert world.erp.balances()["1200"] == Decimal("-330.90")


async def test_amendment_on_a_cancelled_subscription_is_a_finding(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    from tests.unit.flows_harness import cancel
    world, life = World(), annual("sub_late")
    cancel(life, dt.date(2026, 3, 1))
    amend(life, 1, JUL_2, "2400.00")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, lambda v: quiet(4)(v) and v.state == "Cancelled")
    assert [f.kind for f in view.findings] == ["IllegalEvent"]
    assert "cm:cm_sub_late_1" not in world.erp.documents


SCHE, CM = "sche:in_{s}:in_{s}-1:am_{s}_1", "cm:cm_{s}_1"
STEPS = [  # (sub id, failing external id, compensations expected, newest first)
    ("sub_c1", SCHE, [f"reverse {SCHE}"]),
    ("sub_c2", CM, [f"reverse {CM}", f"reverse {SCHE}"]),
    ("sub_c3", "inv:in_{s}_a1", ["reverse sch:in_{s}_a1:in_{s}_a1-1", "reverse inv:in_{s}_a1",
                                 f"reverse {CM}", f"reverse {SCHE}"]),
]


@pytest.mark.parametrize(("sub_id", "failing", "compensations"), STEPS)
async def test_permanent_failure_compensates_the_done_steps_and_parks(
        ts_env: WorkflowEnvironment, task_queue: str, sub_id: str, failing: str,
        compensations: list[str]) -> None:
    failing = failing.format(s=sub_id)
    compensations = [c.format(s=sub_id) for c in compensations]
    world, life = World(), annual(sub_id)
    amend(life, 1, JUL_2, "2400.00")
    world.erp.fail_ids[failing] = RejectedError(f"{failing} refused", system="erp")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events[:2])
        await until(handle, quiet(2))
        before_ledger = world.erp.balances()
        await send(ts_env.client, config, life.events[2:])
        child = ts_env.client.get_workflow_handle(f"amendment-am_{sub_id}_1")
        parked = await parked_step(child)
        audit = await child.query(AmendmentFlow.audit_trail)
        state = await child.query(AmendmentFlow.state)
        view = await handle.query(SubscriptionWorkflow.state)
    assert parked.reason == "erp.rejected"
    assert state == "Compensated"
    ran = [a.note.removeprefix("compensated: ") for a in audit
           if a.note.startswith("compensated: ")]
    assert ran == compensations
    assert world.erp.balances() == before_ledger  # every posting reversed exactly
    assert view.parked and view.state == "Amending"




async def test_amendment_without_invoiced_service_parks_at_prorate(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_noinv", invoice=False)
    amend(life, 1, JUL_2, "2400.00")
    async with running(ts_env.client, task_queue, world) as config:
        await send(ts_env.client, config, life.events)
        parked = await parked_step(ts_env.client.get_workflow_handle("amendment-am_sub_noinv_1"))
    assert parked.reason == f"proration.{InvalidDataError.kind_suffix}"
    assert parked.step == "prorate"
