"""RenewalFlow on the time-skipping server: the lead timer, CRM intent, ERP confirmation."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import InvoicePosting
from canonical.errors import RejectedError
from devstack import streams
from tests.unit.flows_harness import World, annual, fresh_ts_env, running, send, until
from workflows.renewal import RenewalFlow
from workflows.subscription_state import SubscriptionView

DAY = dt.timedelta(days=1)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


async def term_start(env: WorkflowEnvironment) -> dt.date:
    """The first of the server's current month: an annual term ends 12 months later."""
    return (await env.get_current_time()).date().replace(day=1)


async def state_of(renewal: WorkflowHandle) -> str | None:
    """The renewal's state; None before the entity starts it at its window."""
    try:
        return str(await renewal.query(RenewalFlow.state))
    except RPCError:
        return None


def renewal_waits(view: SubscriptionView) -> bool:
    return any(c.flow == "renewal" and c.waiting_until for c in view.children)


async def test_annual_term_renews_after_the_lead_timer_and_erp_confirmation(
        env: WorkflowEnvironment, task_queue: str) -> None:
    start = await term_start(env)
    world, life = World(), annual("sub_ren", start)
    end = life.subscription.term_end
    world.erp.pending_kinds.add("invoice")  # the ERP confirms invoices later
    async with running(env.client, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, renewal_waits)
        [child] = view.children
        assert child.workflow_id == f"renewal-sub_ren-{end.isoformat()}"
        assert child.waiting_until == dt.datetime.combine(end - dt.timedelta(days=30),
                                                          dt.time(0), dt.UTC)
        assert world.crm.calls == ["cus_sub_ren"]  # CRM not asked yet: the timer waits
        # The entity holds the renewal until its window (workflows/renewal_window.py).
        assert child.state == "Scheduled"
        renewal = env.client.get_workflow_handle_for(RenewalFlow.run, child.workflow_id)
        for _ in range(500):  # skip to the term start; the ERP holds the invoice pending
            if await state_of(renewal) == "AwaitingErpConfirmation":
                break
            await env.sleep(DAY)
        else:
            raise AssertionError("never awaited the ERP")
        world.erp.confirm()  # the flow's next poll (backing off, at most hourly) sees it
        view = await until(handle, lambda v: v.renewals == 1 and renewal_waits(v), env,
                           dt.timedelta(minutes=30))
        audit = await renewal.query(RenewalFlow.audit_trail)
    assert [a.to_state for a in audit][-2:] == ["AwaitingErpConfirmation", "Renewed"]
    invoice = world.erp.document("inv:sub_ren-r1", InvoicePosting).invoice
    assert (invoice.issued_on, invoice.billing_reason) == (end, "renewal")
    assert invoice.tax is not None and invoice.total.amount == Decimal("1320.00")
    assert "sch:sub_ren-r1:sub_ren-r1-1" in world.erp.documents
    assert f"ctr:sub_ren:{end.isoformat()}" in world.erp.documents
    assert (view.term_start, view.term_end) == (end, streams.add_months(end, 12))
    assert [c.workflow_id for c in view.children] == [
        f"renewal-sub_ren-{streams.add_months(end, 12).isoformat()}"]
    assert "sub_ren-r1" in [i.invoice_id for i in view.invoices]


async def test_opt_out_ends_the_term_cleanly(env: WorkflowEnvironment, task_queue: str) -> None:
    start = await term_start(env)
    world, life = World(), annual("sub_out", start)
    world.crm.set_account("cus_sub_out", renewal_opt_out=True)
    async with running(env.client, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, renewal_waits)
        view = await until(handle, lambda v: v.state == "Ended", env, 10 * DAY)
    assert not any(k.startswith("inv:sub_out-r") for k in world.erp.documents)
    assert world.provisioning.status["sub_out"].status == "revoked"
    assert world.erp.receipts[f"ctr:sub_out:{start.isoformat()}"].status == "cancelled"
    assert view.children == []


async def test_changed_terms_from_crm_renew_on_the_new_plan(env: WorkflowEnvironment,
                                                            task_queue: str) -> None:
    start = await term_start(env)
    world, life = World(), annual("sub_chg", start)
    world.crm.set_account("cus_sub_chg", renewal_plan_changes={"quantity": 2})
    async with running(env.client, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, renewal_waits)
        await until(handle, lambda v: v.renewals == 1, env, 10 * DAY)
    invoice = world.erp.document("inv:sub_chg-r1", InvoicePosting).invoice
    assert invoice.subtotal.amount == Decimal("2400.00")


@pytest.mark.parametrize(("sub_id", "failing", "compensations"), [
    ("sub_rc1", "ctr:{s}:{end}", ["cancel ctr:{s}:{end}"]),
    ("sub_rc2", "inv:{s}-r1", ["reverse sch:{s}-r1:{s}-r1-1", "reverse inv:{s}-r1",
                               "cancel ctr:{s}:{end}"]),
])
async def test_permanent_failure_of_a_renewal_posting_is_compensated(
        env: WorkflowEnvironment, task_queue: str, sub_id: str, failing: str,
        compensations: list[str]) -> None:
    start = await term_start(env)
    world, life = World(), annual(sub_id, start)
    end = life.subscription.term_end.isoformat()
    world.erp.fail_ids[failing.format(s=sub_id, end=end)] = RejectedError("no", system="erp")
    async with running(env.client, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, renewal_waits)
        renewal = env.client.get_workflow_handle_for(RenewalFlow.run,
                                                     view.children[0].workflow_id)
        for _ in range(500):
            if await state_of(renewal) == "Compensated":
                break
            await env.sleep(DAY)
        else:
            raise AssertionError("never compensated")
        audit = await renewal.query(RenewalFlow.audit_trail)
        parked = await renewal.query(RenewalFlow.parked)
        view = await handle.query("state")
    ran = [a.note.removeprefix("compensated: ") for a in audit
           if a.note.startswith("compensated: ")]
    assert ran == [c.format(s=sub_id, end=end) for c in compensations]
    assert parked is not None and parked.reason == "erp.rejected"
    assert world.erp.balances() == {"1200": Decimal("1320.00"), "2200": Decimal("-120.00"),
                                    "2400": Decimal("-1200.00")}  # the first term only
    assert view["parked"] is True
