"""The AR aging over a sandbox ERP's books: each receivable movement finds its invoice
through the register (payments, credit memos, refunds by their payment) and ages by the
invoice's due date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from adapters.erp.routing import RoutingTable
from canonical.accounts import AccountRole
from canonical.money import Money
from canonical.reports import ar_aging, open_items
from cli.ledger import invoice_links
from tests.sandbox_harness import erp_sandbox, sqlite_stores
from tests.unit.flows_harness import (
    ENTITIES,
    World,
    annual,
    fresh_ts_env,
    quiet,
    running,
    send,
    until,
)


async def test_receivables_age_by_invoice_through_the_register(tmp_path: Path) -> None:
    paid, credited = annual("sub_ag_a"), annual("sub_ag_b")
    (inv_a,) = [e.payload.invoice for e in paid.events if e.event_type == "invoice.issued"]
    (inv_b,) = [e.payload.invoice for e in credited.events if e.event_type == "invoice.issued"]
    paid.pay("py_ag_a", inv_a.invoice_id, inv_a.total, dt.date(2026, 1, 20))
    refunded = Money.of("100.00", "USD")
    paid.refund("rf_ag_a", "py_ag_a", inv_a.invoice_id, refunded, dt.date(2026, 2, 2))
    memo = credited.credit("cm_ag_b", inv_b.invoice_id, Money.of("200.00", "USD"),
                           dt.date(2026, 1, 25))
    async with erp_sandbox(sqlite_stores(tmp_path), name="erp-legacy") as legacy, \
            fresh_ts_env() as env:
        world = World(routing=RoutingTable(default="erp-legacy"),
                      erps={"erp-legacy": legacy.adapter})
        async with running(env.client, "tq-aging", world) as config:
            for life, applied in ((paid, 4), (credited, 3)):
                await until(await send(env.client, config, life.events), quiet(applied))
        entries = await legacy.reader.journal_entries()
        documents = await legacy.reader.documents()
    ar = ENTITIES["US01"].chart.code(AccountRole.ACCOUNTS_RECEIVABLE)
    gross = {e.source_id: ln.amount for e in entries if e.source_type == "invoice"
             for ln in e.lines if ln.account == ar}  # with the tax the engine added
    invoice_of, due = invoice_links(documents)
    assert invoice_of["ref:rf_ag_a"] == inv_a.invoice_id  # through its payment
    assert invoice_of["cm:cm_ag_b"] == inv_b.invoice_id
    as_of = inv_a.due_on + dt.timedelta(days=45)
    items = open_items(entries, ENTITIES["US01"].chart,
                       lambda e: invoice_of.get(e.external_id), due, as_of)
    assert {(i.invoice_id, i.due_on, i.open) for i in items} == {
        (inv_a.invoice_id, inv_a.due_on, gross[inv_a.invoice_id] - inv_a.total + refunded),
        (inv_b.invoice_id, inv_b.due_on, gross[inv_b.invoice_id] - memo.total)}
    rows = ar_aging(items, as_of)
    assert sum((r.buckets["31-60"] for r in rows), Money.zero("USD")) == sum(
        (i.open for i in items), Money.zero("USD"))
