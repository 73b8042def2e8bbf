"""Cashloop's journals read back from NetSuite (adapters/erp/netsuite_ledger.py) and the
ledger commands over books that include them (cli/ledger.py)."""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.erp import netsuite_ledger
from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_ledger import Journals, journals_from_rows, read_journals
from adapters.erp.netsuite_records import ns_external_id, with_source
from adapters.erp.port import InvoicePosting, JournalPosting, PaymentPosting
from canonical import posting
from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from canonical.payment import Payment
from canonical.reports import ar_aging, open_items, trial_balance
from cli.ledger import netsuite_links, netsuite_receivables, of_record
from cli.tax import sync_command
from devstack import streams
from settings import Settings
from tests.unit import test_netsuite_erp
from tests.unit.flows_harness import ENTITIES
from tests.unit.netsuite_api_fake import FakeNetSuite
from tests.unit.test_netsuite_erp import CID, books, customer, invoice, invoice_entry, usd

netsuite, erp = test_netsuite_erp.netsuite, test_netsuite_erp.erp  # the connector's fixtures
FUNCTIONAL = {code: e.chart.functional_currency for code, e in ENTITIES.items()}


def payment_entry(payment_id: str = "py_1", invoice_id: str = "in_1") -> JournalEntry:
    return JournalEntry(
        external_id=f"pay:{payment_id}", legal_entity="US01",
        posting_date=dt.date(2026, 11, 20), currency="USD", source_type="payment",
        source_id=payment_id, memo=f"Payment {payment_id} for invoice {invoice_id}",
        lines=[JournalLine(account="1010", side=Side.DEBIT, amount=usd("1085.65")),
               JournalLine(account="1200", side=Side.CREDIT, amount=usd("1085.65"),
                           customer_id="cus_1")])


async def journals(erp: NetSuiteErpAdapter) -> Journals:
    return await read_journals(erp._client, books(), FUNCTIONAL, correlation_id=CID)


async def read(erp: NetSuiteErpAdapter) -> list[JournalEntry]:
    return (await journals(erp)).entries


def booked(entry: JournalEntry) -> JournalEntry:
    return entry.model_copy(update={"correlation_id": None})


async def test_posted_journals_read_back_as_the_entries_cashloop_booked(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    await erp.post([customer(), invoice("in_1"), invoice("in_2")], correlation_id=CID)
    await erp.post([JournalPosting(external_id="pay:py_1", entry=payment_entry())],
                   correlation_id=CID)
    await erp.reverse("inv:in_2", reversal_external_id="rev:inv:in_2", reason="voided",
                      correlation_id=CID)
    entries = await read(erp)
    assert [e.external_id for e in entries] == ["inv:in_1", "inv:in_2", "pay:py_1",
                                               "rev:inv:in_2"]
    assert entries[:3] == [booked(invoice_entry("in_1")), booked(invoice_entry("in_2")),
                           booked(payment_entry())]
    reversal = entries[3]
    assert (reversal.source_type, reversal.source_id, reversal.memo) == (
        "reversal", "inv:in_2", "Reversal of inv:in_2: voided")
    assert [(ln.account, ln.side, ln.amount) for ln in reversal.lines] == [
        (ln.account, Side.CREDIT if ln.side == Side.DEBIT else Side.DEBIT, ln.amount)
        for ln in invoice_entry("in_2").lines]
    tb = trial_balance(entries, ENTITIES["US01"].chart)
    assert tb.balanced
    net = {r.account: r.debit.amount - r.credit.amount for r in tb.rows}
    assert {code: amount for code, amount in net.items() if amount} == {
        code: amount for code, amount in netsuite.balances().items() if amount}


async def test_a_foreign_journal_reads_netsuites_functional_amounts(
        erp: NetSuiteErpAdapter) -> None:
    await erp.post([customer()], correlation_id=CID)
    eur = invoice_entry().model_copy(update={"currency": "EUR", "functional_currency": "USD",
                                             "rate": Decimal("1.0850")})
    eur = eur.model_copy(update={"lines": [ln.model_copy(update={
        "amount": Money(amount=ln.amount.amount, currency="EUR"),
        "functional_amount": None}) for ln in eur.lines]})
    await erp.post([JournalPosting(external_id="inv:in_1", entry=eur)], correlation_id=CID)
    (entry,) = await read(erp)
    assert (entry.currency, entry.functional_currency, entry.rate) == ("EUR", "USD",
                                                                       Decimal("1.0850"))
    assert [ln.functional_amount for ln in entry.lines] == [
        usd("1177.93"), usd("1085.11"), usd("92.82")]  # each line at the rate, to the cent


async def test_pages_never_split_a_journal(erp: NetSuiteErpAdapter, netsuite: FakeNetSuite,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    await erp.post([customer(), *(invoice(f"in_{n}") for n in range(5))], correlation_id=CID)
    monkeypatch.setattr(netsuite_ledger, "PAGE", 4)  # a page ends inside the second journal
    entries = await read(erp)
    assert [e.external_id for e in entries] == [f"inv:in_{n}" for n in range(5)]
    pages = [r for r in netsuite.requests if r.url.params.get("limit") == "4"]
    assert len(pages) == 5  # three lines a journal: each page holds one whole
    monkeypatch.setattr(netsuite_ledger, "PAGE", 2)
    with pytest.raises(InvalidDataError, match="more than 2 lines"):
        await read(erp)


def row(journal: str, account: str, **fields: object) -> dict[str, object]:
    return {"journal": journal, "externalid": ns_external_id(f"je:{journal}"),
            "trandate": "2026-11-03", "memo": with_source("Adjust", "journal", journal),
            "currency": "1", "exchangerate": "1", "subsidiary": "1", "account": account,
            **fields}


def test_journals_keyed_by_hand_are_not_cashloops_and_unmapped_ids_are_errors() -> None:
    by_hand = [{**row("7", "91010", debitforeignamount="5", debit="5"), "memo": "accrual"},
               {**row("7", "91200", creditforeignamount="5", credit="5"), "memo": "accrual"}]
    assert journals_from_rows(by_hand, books(), FUNCTIONAL).entries == []
    unmapped = [row("8", "91010", debitforeignamount="5", debit="5"),
                row("8", "555", creditforeignamount="5", credit="5")]
    with pytest.raises(InvalidDataError, match=r"account 555.* does not map for US01"):
        journals_from_rows(unmapped, books(), FUNCTIONAL)
    elsewhere = [{**r, "subsidiary": "9"} for r in by_hand[:1]]
    elsewhere[0]["memo"] = with_source("x", "journal", "9")
    with pytest.raises(InvalidDataError, match="subsidiary 9"):
        journals_from_rows(elsewhere, books(), FUNCTIONAL)


def test_a_journal_in_netsuite_and_a_sandbox_counts_once_as_netsuite_holds_it() -> None:
    ns = invoice_entry("in_1")
    copy = ns.model_copy(update={"correlation_id": "c1"})
    other = invoice_entry("in_9")
    assert of_record([copy, other], [ns]) == [ns, other]


def settings_with_netsuite(tmp_path: Path) -> Settings:
    routing = tmp_path / "routing.toml"
    routing.write_text('default = "erp-legacy"\n[entities.US01]\n'
                       'customer_master = "netsuite"\nreceivables = "netsuite"\n')
    return Settings(netsuite_account_id="1234567_SB1", routing_file=routing,
                    netsuite_books=books())


def test_receivables_held_in_netsuite_follow_the_routing(tmp_path: Path) -> None:
    assert netsuite_receivables(Settings()) == set()
    assert netsuite_receivables(settings_with_netsuite(tmp_path)) == {"US01"}


async def test_netsuites_journals_age_by_their_invoices_due_dates(
        erp: NetSuiteErpAdapter) -> None:
    """The tags carry what the aging needs and a journal has no field for: an invoice's due
    date, the invoice a payment or credit memo moves; a reversal follows what it reverses."""
    chart = ENTITIES["US01"].chart
    life = streams.lifecycle("sub_1", streams.customer("cus_1", "US"), dt.date(2026, 9, 1))
    first = life.invoice("in_1", dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    second = life.invoice("in_2", dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    part = Payment(payment_id="py_1", invoice_id="in_1", customer_id="cus_1",
                   legal_entity="US01", amount=first.total.times(Decimal("0.5")),
                   received_on=dt.date(2026, 10, 5))
    await erp.post([customer(), *(InvoicePosting(external_id=f"inv:{i.invoice_id}", invoice=i,
                                                 entry=posting.invoice_entry(i, chart))
                                  for i in (first, second)),
                    PaymentPosting(external_id="pay:py_1", payment=part,
                                   entry=posting.payment_entry(part, chart))],
                   correlation_id=CID)
    await erp.reverse("inv:in_2", reversal_external_id="rev:inv:in_2", reason="voided",
                      correlation_id=CID)
    read_back = await journals(erp)
    invoice_of, due = netsuite_links(read_back)
    assert invoice_of == {"inv:in_1": "in_1", "pay:py_1": "in_1", "inv:in_2": "in_2",
                          "rev:inv:in_2": "in_2"}
    assert due == {"in_1": first.due_on, "in_2": second.due_on}
    as_of = first.due_on + dt.timedelta(days=40)
    items = open_items(read_back.entries, chart, lambda e: invoice_of.get(e.external_id), due,
                       as_of)
    (item,) = items  # in_2 reversed to nothing
    assert (item.invoice_id, item.due_on, item.open) == ("in_1", first.due_on,
                                                        first.total - part.amount)
    (row,) = ar_aging(items, as_of)
    assert row.buckets["31-60"] == first.total - part.amount


async def test_tax_sync_refuses_an_entity_whose_invoices_netsuite_holds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(period="2026-11", entities=["US01"], dry_run=True, commit=False)
    assert await sync_command(args, settings_with_netsuite(tmp_path)) == 2
    assert "US01: invoices are in NetSuite" in capsys.readouterr().out
