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
from adapters.erp.netsuite_ledger import entries_from_rows, journal_entries
from adapters.erp.netsuite_records import ns_external_id, with_source
from adapters.erp.port import JournalPosting
from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from canonical.reports import trial_balance
from cli.ledger import ar_aging_command, netsuite_receivables, of_record
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


async def read(erp: NetSuiteErpAdapter) -> list[JournalEntry]:
    return await journal_entries(erp._client, books(), FUNCTIONAL, correlation_id=CID)


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
    assert entries_from_rows(by_hand, books(), FUNCTIONAL) == []
    unmapped = [row("8", "91010", debitforeignamount="5", debit="5"),
                row("8", "555", creditforeignamount="5", credit="5")]
    with pytest.raises(InvalidDataError, match=r"account 555.* does not map for US01"):
        entries_from_rows(unmapped, books(), FUNCTIONAL)
    elsewhere = [{**r, "subsidiary": "9"} for r in by_hand[:1]]
    elsewhere[0]["memo"] = with_source("x", "journal", "9")
    with pytest.raises(InvalidDataError, match="subsidiary 9"):
        entries_from_rows(elsewhere, books(), FUNCTIONAL)


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


async def test_aging_an_entity_netsuite_holds_is_refused_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(entity="US01", as_of=None)
    assert await ar_aging_command(args, settings_with_netsuite(tmp_path)) == 2
    assert "receivables are in NetSuite" in capsys.readouterr().err
