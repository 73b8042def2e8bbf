"""An amendment the billing system bills itself, its documents applied before or after it.

Time-skipping server, fake ports. The same amendment (an annual 1,200.00 upgraded to
2,400.00 on 2 July, Stripe's proration invoice holding the rebill and the credit) is
applied before its documents and after them: the books end the same (workflows/
upstream_first.py). A service credit with no amendment changes no schedule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import ScheduleEnd, SchedulePosting
from canonical.accounts import AccountRole
from canonical.billing import CreditMemo, CreditMemoLine
from canonical.events import (
    BusinessKeys,
    CreditMemoIssued,
    CreditMemoIssuedEvent,
    InvoiceIssued,
    InvoiceIssuedEvent,
    SubscriptionAmended,
)
from canonical.ledger import Side
from canonical.money import Money
from devstack.streams import Lifecycle
from tests.unit.flows_harness import ENTITIES, World, amend, annual, quiet, running, send, until

US01 = ENTITIES["US01"].chart
DEFERRED = US01.code(AccountRole.DEFERRED_REVENUE)
REVENUE = US01.code(AccountRole.SUBSCRIPTION_REVENUE)


def billed_upstream(life: Lifecycle, invoice_event: Any) -> list[Any]:
    """An upgrade to 2,400.00 a year on 2 July that the billing system bills itself (added
    to `life`), and its documents: the rebill of the rest of the year (1,200.00) and the
    credit memo of 600.00, enveloped like `invoice_event` (the invoice it changes)."""
    sub_id, invoice = life.subscription_id, invoice_event.payload.invoice
    a = amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    a = a.model_copy(update={"documents_upstream": True})
    life.events[-1] = life.events[-1].model_copy(
        update={"payload": SubscriptionAmended(amendment=a)})
    rebill = invoice.model_copy(update={
        "invoice_id": a.invoice_id, "issued_on": dt.date(2026, 7, 2), "tax": None,
        "lines": [ln.model_copy(update={"line_id": f"{a.invoice_id}-1",
                                        "period_start": dt.date(2026, 7, 2),
                                        "amount": Money.of("1200.00", "USD")})
                  for ln in invoice.lines]})
    memo = CreditMemo(credit_memo_id=a.credit_memo_id, customer_id=rebill.customer_id,
                      subscription_id=sub_id, invoice_id=a.invoice_id, legal_entity="US01",
                      currency="USD", issued_on=dt.date(2026, 7, 2), reason="proration",
                      lines=[CreditMemoLine(line_id="c1", description="unused",
                                            amount=Money.of("600.00", "USD"),
                                            tax_amount=Money.of("0.00", "USD"))])
    envelope = {k: v for k, v in invoice_event.model_dump().items()
                if k not in ("payload", "event_type", "sequence", "event_id", "keys")}
    envelope["keys"] = BusinessKeys(subscription_id=sub_id)
    return [InvoiceIssuedEvent(**envelope, event_id=f"evt_{sub_id}_rebill",
                               payload=InvoiceIssued(invoice=rebill)),
            CreditMemoIssuedEvent(**envelope, event_id=f"evt_{sub_id}_memo",
                                  payload=CreditMemoIssued(credit_memo=memo))]


def upstream(sub_id: str) -> tuple[list[Any], Any, list[Any]]:
    """(activation and invoice, the amendment, its rebill and credit memo), unsequenced."""
    life = annual(sub_id)
    documents = billed_upstream(life, life.events[1])
    first, amendment = [e.model_copy(update={"sequence": None}) for e in life.events[:2]], \
        life.events[2].model_copy(update={"sequence": None})
    return first, amendment, documents


async def books(env: WorkflowEnvironment, task_queue: str, sub_id: str,
                documents_first: bool) -> World:
    world = World()
    first, amendment, documents = upstream(sub_id)
    later = [amendment, *documents] if not documents_first else [*documents, amendment]
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, first)
        await until(handle, quiet(2))
        for n, event in enumerate(later, 3):
            await send(env.client, config, [event])
            await until(handle, quiet(n))
    return world


async def test_the_documents_before_their_amendment_end_in_the_same_books(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    in_order = await books(ts_env, f"{task_queue}-a", "sub_uo", documents_first=False)
    early = await books(ts_env, f"{task_queue}-b", "sub_ue", documents_first=True)
    assert early.erp.balances() == in_order.erp.balances()
    # the amendment ended the old schedule only, not its own rebill's, in both orders
    def ends(w: World) -> list[str]:
        return sorted(k.split(":")[1] for k in w.erp.documents if k.startswith("sche:"))

    assert ends(in_order) == ["in_sub_uo"] and ends(early) == ["in_sub_ue"]
    # early, the memo reversed revenue; the release moved what the schedule gave up
    memo = early.erp.documents["cm:cm_sub_ue_1"].entry  # type: ignore[union-attr]
    assert {ln.account for ln in memo.lines if ln.side == Side.DEBIT} == {REVENUE}
    release = early.erp.documents["cmr:cm_sub_ue_1"].entry  # type: ignore[union-attr]
    released = early.erp.receipts["sche:in_sub_ue:in_sub_ue-1:am_sub_ue_1"].amount
    assert [(ln.account, ln.side, ln.amount) for ln in release.lines] == [
        (DEFERRED, Side.DEBIT, released), (REVENUE, Side.CREDIT, released)]
    assert "cmr:cm_sub_uo_1" not in in_order.erp.documents


async def test_a_service_credit_reverses_revenue_and_leaves_deferred_revenue(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world = World()
    life = annual("sub_sc")
    life.credit("cn_sc", "in_sub_sc", Money.of("100.00", "USD"), dt.date(2026, 3, 1),
                tax=Money.of("7.25", "USD"), reason="outage credit")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        await until(handle, quiet(3))
    memo = world.erp.documents["cm:cn_sc"].entry  # type: ignore[union-attr]
    assert [(ln.account, ln.side, ln.amount.amount, ln.memo) for ln in memo.lines] == [
        (REVENUE, Side.DEBIT, Decimal("100.00"), "credited revenue; no deferral released"),
        (US01.code(AccountRole.TAX_PAYABLE), Side.DEBIT, Decimal("7.25"), ""),
        (US01.code(AccountRole.ACCOUNTS_RECEIVABLE), Side.CREDIT, Decimal("107.25"), "")]
    assert not [k for k in world.erp.documents if k.startswith("sche:")]


def deferred_held(world: World) -> Decimal:
    """What the ERP's schedules still hold: their totals less what live ends released."""
    erp, live = world.erp, set(world.erp.receipts) - set(world.erp.reversals.values())
    totals = sum((p.schedule.total.amount for k, p in erp.documents.items()
                  if k in live and isinstance(p, SchedulePosting)), Decimal(0))
    released = Decimal(0)
    for k, p in erp.documents.items():
        if k in live and isinstance(p, ScheduleEnd):
            amount = erp.receipts[k].amount  # the ERP answers an end with what it released
            assert amount is not None
            released += amount.amount
    return totals - released


def reordered(sub_id: str, late_price: str) -> list[Any]:
    """`upstream`'s events in order, then an amendment of 1 April (to `late_price` a year)
    that arrives last: it reorders the upstream one, applied again as generation 2."""
    first, amendment, documents = upstream(sub_id)
    life = annual(sub_id)
    amend(life, 0, dt.datetime(2026, 4, 1, tzinfo=dt.UTC), late_price)
    return [*first, amendment, *documents, life.events[-1].model_copy(update={"sequence": None})]


async def send_one_by_one(env: WorkflowEnvironment, config: Any, events: list[Any]) -> Any:
    handle = None
    for n, event in enumerate(events, 1):
        handle = await send(env.client, config, [event])
        view = await until(handle, quiet(n))
    return handle, view


@pytest.mark.parametrize("late_price", ["1800.00", "600.00"])  # releases more, less
async def test_a_late_amendment_before_an_upstream_one_keeps_deferred_revenue_tied(
        ts_env: WorkflowEnvironment, task_queue: str, late_price: str) -> None:
    """The upstream amendment's memo was posted with what its schedule ends released; a
    late amendment reorders it (generation 2), whose ends release another amount: the
    difference moves between deferred revenue and revenue, so the deferral still ties to
    what the schedules hold."""
    world, sub = World(), f"sub_g{late_price[0]}"  # ids of their own: one server for both
    async with running(ts_env.client, task_queue, world) as config:
        _, view = await send_one_by_one(ts_env, config, reordered(sub, late_price))
    assert "LateAmendment" in [f.kind for f in view.findings]
    assert -world.erp.balances()[DEFERRED] == deferred_held(world)
    adjusted = world.erp.documents[f"cmr:cm_{sub}_1~2"].entry  # type: ignore[union-attr]
    assert {ln.account: ln.side for ln in adjusted.lines}[DEFERRED] == (
        Side.DEBIT if late_price == "1800.00" else Side.CREDIT)
