"""`starter.py ledger ...`: reports over the books of record.

The books are the sandbox ERPs' and, with the NetSuite connector on, the journals Cashloop
posted to NetSuite read back (adapters/erp/netsuite_ledger.py). A journal both hold — the
revenue sub-ledger's copy of a recognition it booked in NetSuite — counts once, as
NetSuite holds it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

from adapters.erp.netsuite_ledger import Journals, read_journals
from adapters.erp.routing import Domain, RoutingTable
from adapters.erp.sandbox import ErpDocument, ErpSchedule, SandboxErpReader
from canonical.accounts import LegalEntity
from canonical.exports import beancount_ledger, hledger_journal
from canonical.ledger import JournalEntry
from canonical.money import Money
from canonical.reports import (
    AGING_BUCKETS,
    AgingRow,
    Rollforward,
    TrialBalance,
    ar_aging,
    deferred_balance,
    deferred_rollforward,
    open_items,
    trial_balance,
)
from ports import netsuite_api, netsuite_books
from settings import ERP_TARGETS, Settings, load_entities
from settings_secrets import load_secrets

T = TypeVar("T")


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="ledger reports")
    lsub = p.add_subparsers(dest="ledger_command", required=True)
    tb = lsub.add_parser("trial-balance", help="trial balance per legal entity")
    tb.add_argument("--entity", help="one legal entity (default: all)")
    tb.add_argument("--as-of", type=dt.date.fromisoformat)
    tb.set_defaults(func=trial_balance_command)
    ag = lsub.add_parser("ar-aging", help="open receivables by days past due")
    ag.add_argument("--entity")
    ag.add_argument("--as-of", type=dt.date.fromisoformat, default=None,
                    help="default: today")
    ag.set_defaults(func=ar_aging_command)
    rf = lsub.add_parser("deferred-rollforward",
                         help="deferred revenue: opening, billings, recognised, closing")
    rf.add_argument("--period", required=True, help="YYYY-MM")
    rf.add_argument("--entity")
    rf.set_defaults(func=rollforward_command)
    ex = lsub.add_parser("export", help="the ledger as an hledger journal or beancount file")
    ex.add_argument("--format", choices=("hledger", "beancount"), required=True)
    ex.add_argument("--entity")
    ex.add_argument("--out", type=Path, help="default: standard output")
    ex.set_defaults(func=export_command)


async def from_every_erp(settings: Settings,
                         read: Callable[[SandboxErpReader], Awaitable[list[T]]]) -> list[T]:
    """What `read` gets from each ERP sandbox target, together."""
    found: list[T] = []
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=30) as c:
            found += await read(SandboxErpReader(c))
    return found


async def fetch_entries(settings: Settings) -> list[JournalEntry]:
    """Every journal entry of the books of record."""
    return of_record(await from_every_erp(settings, lambda r: r.journal_entries()),
                     (await netsuite_journals(settings)).entries)


async def fetch_documents(settings: Settings) -> list[ErpDocument]:
    """The document register of every ERP sandbox target (NetSuite's is not read)."""
    return await from_every_erp(settings, lambda r: r.documents())


async def fetch_books(settings: Settings) -> tuple[list[JournalEntry], list[ErpDocument],
                                                  list[ErpSchedule]]:
    """Entries of the books of record; documents and revenue schedules of every ERP
    sandbox target."""
    entries, documents, schedules = await sandbox_books(settings)
    return (of_record(entries, (await netsuite_journals(settings)).entries), documents,
            schedules)


async def sandbox_books(settings: Settings) -> tuple[list[JournalEntry], list[ErpDocument],
                                                    list[ErpSchedule]]:
    """Entries, documents and revenue schedules of every ERP sandbox target."""
    entries: list[JournalEntry] = []
    documents: list[ErpDocument] = []
    schedules: list[ErpSchedule] = []
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=30) as c:
            reader = SandboxErpReader(c)
            entries += await reader.journal_entries()
            documents += await reader.documents()
            schedules += await reader.schedules()
    return entries, documents, schedules


async def netsuite_journals(settings: Settings) -> Journals:
    """Cashloop's journals in NetSuite; none while the connector is off."""
    if settings.netsuite_account_id is None:
        return Journals()
    books = netsuite_books(settings)
    functional = {code: e.chart.functional_currency
                  for code, e in load_entities(settings.entities_file).items()}
    async with netsuite_api(settings, load_secrets()) as client:
        return await read_journals(client, books, functional,
                                   correlation_id=f"ledger-read-{uuid.uuid4().hex[:12]}",
                                   target=settings.netsuite_target)


def of_record(sandboxes: list[JournalEntry], netsuite: list[JournalEntry]) -> list[JournalEntry]:
    """NetSuite's entries and the sandboxes' others, each external id once."""
    held = {e.external_id for e in netsuite}
    return netsuite + [e for e in sandboxes if e.external_id not in held]


def netsuite_receivables(settings: Settings) -> set[str]:
    """Legal entities whose receivables the NetSuite connector holds (config/routing.toml):
    their invoices are in no sandbox register, so what is built on the register (the tax
    filing sync) cannot cover them."""
    if settings.netsuite_account_id is None:
        return set()
    table = RoutingTable.from_toml(settings.routing_file)
    return {code for code in load_entities(settings.entities_file)
            if table.target(code, Domain.RECEIVABLES) == settings.netsuite_target}


Move = tuple[str, str, str, str]  # an entry's external id, source type, source id, memo


def invoice_links(documents: list[ErpDocument]) -> tuple[dict[str, str], dict[str, dt.date]]:
    """(entry external id -> invoice id, invoice id -> due date) from posted bodies."""
    invoice_of: dict[str, str] = {}
    due: dict[str, dt.date] = {}
    payment_invoice: dict[str, str] = {}
    for d in documents:
        body = d.body
        if d.kind == "invoice":
            invoice_of[d.external_id] = body["invoice"]["invoice_id"]
            due[body["invoice"]["invoice_id"]] = dt.date.fromisoformat(body["invoice"]["due_on"])
        elif d.kind == "payment":
            invoice_of[d.external_id] = payment_invoice[body["payment"]["payment_id"]] = \
                body["payment"]["invoice_id"]
        elif d.kind == "credit_memo" and body["credit_memo"].get("invoice_id"):
            invoice_of[d.external_id] = body["credit_memo"]["invoice_id"]
    moves: list[Move] = []
    for d in documents:
        entry = d.body.get("entry") if d.kind == "journal" else None
        if entry:
            moves.append((d.external_id, entry["source_type"], entry["source_id"],
                          entry["memo"]))
        elif d.kind == "reversal" and d.business_key:
            moves.append((d.external_id, "reversal", d.business_key, ""))
    follow_links(moves, invoice_of, payment_invoice)
    return invoice_of, due


def netsuite_links(journals: Journals) -> tuple[dict[str, str], dict[str, dt.date]]:
    """`invoice_links` of NetSuite's journals, from their tags."""
    invoice_of = {e.external_id: e.source_id for e in journals.entries
                  if e.source_type == "invoice"} | journals.invoices
    payment_invoice = {e.source_id: journals.invoices[e.external_id] for e in journals.entries
                       if e.source_type == "payment" and e.external_id in journals.invoices}
    follow_links([(e.external_id, e.source_type, e.source_id, e.memo)
                  for e in journals.entries], invoice_of, payment_invoice)
    return invoice_of, dict(journals.due)


def follow_links(moves: list[Move], invoice_of: dict[str, str],
                 payment_invoice: dict[str, str]) -> None:
    """Add the invoices of entries that name theirs only through another document, in
    order: a write-off's source is its invoice, a refund's memo names its payment
    ("Refund r of payment p"), a reversal's source is the entry it reverses."""
    for external_id, source_type, source_id, memo in moves:
        if source_type == "write_off":
            invoice_of[external_id] = source_id
        elif source_type == "refund":
            payment = memo.rsplit(" ", 1)[-1]
            if payment in payment_invoice:
                invoice_of[external_id] = payment_invoice[payment]
        elif source_type == "reversal" and source_id in invoice_of:
            invoice_of[external_id] = invoice_of[source_id]


def schedule_deferral(schedules: list[ErpSchedule], entity: LegalEntity) -> Money:
    """Unrecognised schedule periods of an entity, in its functional currency."""
    cur = entity.chart.functional_currency
    amount = Decimal(0)
    for sch in schedules:
        if sch.legal_entity != entity.code:
            continue
        for p in sch.periods:
            if p.status == "open":
                amount += (p.functional_amount or p.amount).amount
    return Money(amount=amount, currency=cur)


def trial_balances(entries: list[JournalEntry], entities: dict[str, LegalEntity],
                   only: str | None = None, as_of: dt.date | None = None) -> list[TrialBalance]:
    return [trial_balance(entries, e.chart, as_of) for code, e in sorted(entities.items())
            if only in (None, code)]


def render_trial_balance(tb: TrialBalance) -> str:
    title = f"Trial balance {tb.legal_entity} ({tb.currency})"
    if tb.as_of:
        title += f" as of {tb.as_of}"
    lines = [title, f"{'account':<8} {'name':<42} {'debit':>16} {'credit':>16}"]
    for row in tb.rows:
        lines.append(f"{row.account:<8} {row.name[:42]:<42} {row.debit.amount:>16,} "
                     f"{row.credit.amount:>16,}")
    lines.append(f"{'':<8} {'TOTAL':<42} {tb.total_debit.amount:>16,} "
                 f"{tb.total_credit.amount:>16,}")
    lines.append("balanced" if tb.balanced else "NOT BALANCED")
    return "\n".join(lines)


async def trial_balance_command(args: argparse.Namespace, settings: Settings) -> int:
    entries = await fetch_entries(settings)
    tbs = trial_balances(entries, load_entities(settings.entities_file), args.entity,
                         args.as_of)
    for tb in tbs:
        print(render_trial_balance(tb) + "\n")
    return 0 if all(tb.balanced for tb in tbs) else 1


def render_aging(rows: list[AgingRow], as_of: dt.date) -> str:
    lines = [f"AR aging as of {as_of} (functional currency, by days past due)",
             f"{'entity':<6} {'customer':<22} {'cur':<4}"
             + "".join(f"{b:>14}" for b in AGING_BUCKETS) + f"{'total':>14}"]
    for r in rows:
        lines.append(f"{r.legal_entity:<6} {r.customer_id or '-':<22} {r.currency:<4}"
                     + "".join(f"{r.buckets[b].amount:>14,}" for b in AGING_BUCKETS)
                     + f"{r.total.amount:>14,}")
    return "\n".join(lines)


async def ar_aging_command(args: argparse.Namespace, settings: Settings) -> int:
    entries, documents, _ = await sandbox_books(settings)
    netsuite = await netsuite_journals(settings)
    entries = of_record(entries, netsuite.entries)
    as_of = args.as_of or dt.datetime.now(dt.UTC).date()
    invoice_of, due = invoice_links(documents)
    held_of, held_due = netsuite_links(netsuite)
    invoice_of, due = invoice_of | held_of, due | held_due
    items = []
    for code, entity in sorted(load_entities(settings.entities_file).items()):
        if args.entity in (None, code):
            items += open_items(entries, entity.chart,
                                lambda e: invoice_of.get(e.external_id), due, as_of)
    print(render_aging(ar_aging(items, as_of), as_of))
    return 0


def render_rollforward(rf: Rollforward, per_schedules: Money | None = None,
                       now: Money | None = None) -> str:
    lines = [f"Deferred revenue rollforward {rf.legal_entity} {rf.period} ({rf.currency})"]
    for label, value in (("opening", rf.opening), ("+ billings", rf.billings),
                         ("- recognised", rf.recognised), ("+/- other (credits, reversals)",
                                                           rf.other),
                         ("closing", rf.closing)):
        lines.append(f"  {label:<32} {value.amount:>16,}")
    lines.append("  ties" if rf.ties else "  DOES NOT TIE")
    if per_schedules is not None and now is not None:
        same = per_schedules == now
        lines.append(f"  deferred revenue now {now.amount:,} vs unrecognised schedule periods "
                     f"{per_schedules.amount:,}: {'ties' if same else 'DOES NOT TIE'}")
    return "\n".join(lines)


async def rollforward_command(args: argparse.Namespace, settings: Settings) -> int:
    entries, _, schedules = await fetch_books(settings)
    ok = True
    for code, entity in sorted(load_entities(settings.entities_file).items()):
        if args.entity not in (None, code):
            continue
        rf = deferred_rollforward(entries, entity.chart, args.period)
        per_schedules = schedule_deferral(schedules, entity)
        now = deferred_balance(entries, entity.chart)
        print(render_rollforward(rf, per_schedules, now) + "\n")
        ok = ok and rf.ties and per_schedules == now
    return 0 if ok else 1


def export_text(entries: list[JournalEntry], entities: dict[str, LegalEntity], fmt: str,
                only: str | None = None) -> str:
    chosen = {c: e for c, e in entities.items() if only in (None, c)}
    return (hledger_journal if fmt == "hledger" else beancount_ledger)(entries, chosen)


async def export_command(args: argparse.Namespace, settings: Settings) -> int:
    entries = await fetch_entries(settings)
    text = export_text(entries, load_entities(settings.entities_file), args.format,
                       args.entity)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {len(entries)} entries as {args.format} to {args.out}")
    return 0
