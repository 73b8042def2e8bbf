"""The flows end to end: real dev server, sandbox systems over HTTP, books that tie out."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.erp.port import InvoicePosting, SchedulePosting
from adapters.erp.routing import RoutingTable
from adapters.erp.sandbox import SandboxErpAdapter, SandboxErpReader
from canonical.accounts import AccountRole
from canonical.money import Money
from canonical.posting import invoice_entry
from canonical.reports import trial_balance
from canonical.schedules import schedules_for_invoice
from cli.send import deliver
from cli.status import subscription_views
from devstack import streams
from tests.integration.stack import ENTITIES, Engine, running_engine
from tests.unit.flows_harness import amend, fail_payment
from workflows.renewal import RenewalFlow
from workflows.subscription_state import SubscriptionView

US01 = ENTITIES["US01"].chart
# These tests read one ERP's books whole; routing splits are tested in test_period_close_e2e.
ONE_ERP = RoutingTable(default="erp-legacy")
CA_TAX = Decimal("1.0725")  # the sandbox tax engine's rate for California


def gross(net: str) -> Money:
    return Money.of(Decimal(net) * CA_TAX, "USD")


def life(sub_id: str, start: dt.date = dt.date(2026, 1, 1),
         price: str = "1200.00") -> streams.Lifecycle:
    lf = streams.lifecycle(sub_id, streams.customer(f"cus_{sub_id}", "US"), start,
                           [(streams.plan("pro-annual", "USD", price), 1)])
    lf.activate()
    lf.invoice(f"in_{sub_id}", start, lf.subscription.term_end)
    return lf


async def settle(engine: Engine, expected: dict[str, int], *, children: bool = False,
                 tries: int = 900) -> list[SubscriptionView]:
    for _ in range(tries):
        views = await subscription_views(engine.client, sorted(expected))
        if len(views) == len(expected) and all(
                v.events_applied >= expected[v.subscription_id] and not v.pending
                and not v.busy and not v.parked and (children or not v.children)
                for v in views):
            return views
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {views}")


async def started(engine: Engine, workflow_id: str) -> None:
    """Wait until a child flow exists (the entity starts it after applying an event)."""
    for _ in range(900):
        with contextlib.suppress(RPCError):
            await engine.client.get_workflow_handle(workflow_id).describe()
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never started")


async def deferred_ties(erp: SandboxErpReader, entity: str = "US01") -> tuple[Money, Money]:
    """(deferred revenue on the books, unrecognised open periods on the schedules)."""
    tb = trial_balance(await erp.journal_entries(entity), ENTITIES[entity].chart)
    code = ENTITIES[entity].chart.code(AccountRole.DEFERRED_REVENUE)
    booked = next((-r.balance for r in tb.rows if r.account == code), Money.zero(tb.currency))
    open_periods = sum((p.amount.amount for s in await erp.schedules(entity)
                        for p in s.periods if p.status == "open"), Decimal(0))
    return booked, Money(amount=open_periods, currency=tb.currency)


async def test_dunning_recovers_one_subscription_and_writes_off_another(
        dev_client: Client, tmp_path: Path) -> None:
    rec, lost = life("sub_e2e_rec"), life("sub_e2e_lost")
    for lf in (rec, lost):
        fail_payment(lf, f"in_{lf.subscription_id}", gross("1200.00"), dt.date(2026, 2, 1))
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP, renewals_enabled=False,
                              day_seconds=0.3) as engine:
        await engine.payments.set_outcome("invoice:in_sub_e2e_rec", fail_first=1)
        await engine.payments.set_outcome("customer:cus_sub_e2e_lost", then="fail")
        await deliver(dev_client, rec.events + lost.events, engine.config)
        views = {v.subscription_id: v for v in await settle(
            engine, {"sub_e2e_rec": 3, "sub_e2e_lost": 3})}
        erp = engine.readers["erp-legacy"]
        docs = {d.external_id for d in await erp.documents()}
        entries = await erp.journal_entries("US01")
        booked, scheduled = await deferred_ties(erp)
        attempts = {i: [c.status for c in await engine.payments.collections(i)]
                    for i in ("in_sub_e2e_rec", "in_sub_e2e_lost")}
        notices = [n.kind for n in await engine.crm.notices(correlation_id="t",
                                                            subscription_id="sub_e2e_lost")]
        lost_access = await engine.provisioning.get("sub_e2e_lost", correlation_id="t")
    assert attempts == {"in_sub_e2e_rec": ["failed", "succeeded"],
                        "in_sub_e2e_lost": ["failed", "failed", "failed"]}
    assert (views["sub_e2e_rec"].state, views["sub_e2e_lost"].state) == ("Active", "Cancelled")
    assert {"pay:py_dun_in_sub_e2e_rec_2", "wo:in_sub_e2e_lost", "cm:sub_e2e_lost-cancel",
            "sche:in_sub_e2e_lost:in_sub_e2e_lost-1:cancel"} <= docs
    assert notices[-1] == "dunning_written_off" and lost_access.status == "revoked"
    tb = trial_balance(entries, US01)
    assert tb.balanced
    ar = next(r.balance for r in tb.rows if r.account == US01.code(AccountRole.ACCOUNTS_RECEIVABLE))
    assert ar.amount == sum(v.amount_due["USD"] for v in views.values()) == 0
    assert booked == scheduled  # deferred revenue ties to the unrecognised schedule periods


async def test_upgrade_and_downgrade_keep_deferred_revenue_tied_to_the_schedules(
        dev_client: Client, tmp_path: Path) -> None:
    up, down = life("sub_e2e_up"), life("sub_e2e_down")
    amend(up, 1, dt.datetime(2026, 5, 10, 15, 30, tzinfo=dt.UTC), "2400.00")
    amend(up, 2, dt.datetime(2026, 9, 1, tzinfo=dt.UTC), "3600.00")
    down.pay("py_sub_e2e_down", "in_sub_e2e_down", gross("1200.00"), dt.date(2026, 1, 10))
    amend(down, 1, dt.datetime(2026, 4, 1, tzinfo=dt.UTC), "300.00")
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP,
                              renewals_enabled=False) as engine:
        await deliver(dev_client, up.events + down.events, engine.config)
        views = {v.subscription_id: v for v in await settle(
            engine, {"sub_e2e_up": 4, "sub_e2e_down": 4})}
        erp = engine.readers["erp-legacy"]
        booked, scheduled = await deferred_ties(erp)
        tb = trial_balance(await erp.journal_entries("US01"), US01)
    assert booked == scheduled
    assert tb.balanced
    assert views["sub_e2e_down"].amount_due["USD"] < 0  # the downgrade is a net credit
    ar = next(r.balance for r in tb.rows if r.account == US01.code(AccountRole.ACCOUNTS_RECEIVABLE))
    assert ar.amount == sum(v.amount_due["USD"] for v in views.values())


async def test_rebill_refused_for_good_reverses_the_credit_memo_and_the_schedule_end(
        dev_client: Client, tmp_path: Path) -> None:
    lf = life("sub_e2e_comp")
    amend(lf, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP,
                              renewals_enabled=False) as engine:
        erp = engine.readers["erp-legacy"]
        await deliver(dev_client, lf.events[:2], engine.config)
        await settle(engine, {"sub_e2e_comp": 2})
        # The rebill's invoice id is already taken in the ERP by another document.
        squatter = streams.lifecycle("sub_other", streams.customer("cus_other", "US"),
                                     dt.date(2026, 1, 1)).invoice(
            "in_sub_e2e_comp_a1", dt.date(2026, 1, 1), dt.date(2027, 1, 1))
        entry = invoice_entry(squatter, US01)
        async with httpx.AsyncClient(base_url=engine.urls["erp-legacy"]) as http:
            await SandboxErpAdapter("erp-legacy", http).post(
                [InvoicePosting(external_id=entry.external_id, invoice=squatter, entry=entry),
                 *[SchedulePosting(external_id=f"sch:{s.schedule_id}", schedule=s)
                   for s in schedules_for_invoice(squatter)]], correlation_id="t")
        before = trial_balance(await erp.journal_entries("US01"), US01).rows
        await deliver(dev_client, lf.events[2:], engine.config)
        await started(engine, "amendment-am_sub_e2e_comp_1")
        flow = engine.client.get_workflow_handle("amendment-am_sub_e2e_comp_1")
        for _ in range(900):
            parked = await flow.query("parked")
            if parked is not None:
                break
            await asyncio.sleep(0.1)
        docs = {d.external_id: d.status for d in await erp.documents()}
        after = trial_balance(await erp.journal_entries("US01"), US01).rows
        booked, scheduled = await deferred_ties(erp)
    assert parked["reason"] == "erp.rejected"
    assert docs["cm:cm_sub_e2e_comp_1"] == "reversed"
    assert docs["sche:in_sub_e2e_comp:in_sub_e2e_comp-1:am_sub_e2e_comp_1"] == "reversed"
    assert {"rev-cm:cm_sub_e2e_comp_1",
            "rev-sche:in_sub_e2e_comp:in_sub_e2e_comp-1:am_sub_e2e_comp_1"} <= set(docs)
    assert [(r.account, r.balance) for r in after] == [(r.account, r.balance) for r in before]
    assert booked == scheduled  # the ended schedule is open again, its deferral restored


async def test_renewal_waits_visibly_for_erp_confirmation(dev_client: Client,
                                                          tmp_path: Path) -> None:
    today = dt.date.today()
    lf = life("sub_e2e_ren", dt.date(today.year - 1, today.month, 1))  # the term has ended
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP,
                              erp_confirmation_poll_s=0.3) as engine:
        await engine.readers["erp-legacy"].set_config(pending_kinds=["invoice"],
                                                      confirm_delay_s=1.5)
        await deliver(dev_client, lf.events, engine.config)
        renewal_id = f"renewal-sub_e2e_ren-{lf.subscription.term_end.isoformat()}"
        await started(engine, renewal_id)
        handle = engine.client.get_workflow_handle_for(RenewalFlow.run, renewal_id)
        result = await asyncio.wait_for(handle.result(), timeout=60)
        views = await settle(engine, {"sub_e2e_ren": 2}, children=True)
        audit = [a.to_state for a in result.audit]
    assert result.state == "Renewed"
    assert "AwaitingErpConfirmation" in audit
    assert views[0].renewals == 1 and views[0].term_start == lf.subscription.term_end
    assert [c.flow for c in views[0].children] == ["renewal"]  # the next one waits


async def test_ladder_outlives_the_entitys_continue_as_new(dev_client: Client,
                                                           tmp_path: Path) -> None:
    """The time-skipping server mishandles children across a parent's continue-as-new,
    so this runs on the real dev server, with one-third-second dunning days."""
    lf = life("sub_e2e_can")
    fail_payment(lf, "in_sub_e2e_can", gross("1200.00"), dt.date(2026, 2, 1))
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP, renewals_enabled=False,
                              day_seconds=0.3,
                              continue_as_new_after_events=3) as engine:
        await engine.payments.set_outcome("invoice:in_sub_e2e_can", then="fail")
        await deliver(dev_client, lf.events, engine.config)
        await started(engine, "dunning-in_sub_e2e_can")
        [view] = await settle(engine, {"sub_e2e_can": 3})
        described = await engine.client.get_workflow_handle("subscription-sub_e2e_can").describe()
    first_run = described.raw_description.workflow_execution_info.first_run_id
    assert described.run_id != first_run  # it continued as new while the ladder ran
    assert (view.state, [i.status for i in view.invoices]) == ("Cancelled", ["written_off"])
