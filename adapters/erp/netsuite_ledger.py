"""Cashloop's journals read back from NetSuite, for the ledger reports and exports.

The journals the connector posts carry Cashloop's source in their header memo
(`[cashloop invoice in_1]`, netsuite_records.with_source) and its external id, escaped;
this reads every such journal with SuiteQL and turns it back into the `JournalEntry` it
booked, with what its tag says of the receivable (the invoice it moves, an invoice's due
date) for the aging: accounts, subsidiaries, currencies and customers mapped back through
the same `NetSuiteBooks`, transaction amounts from the journal's lines and functional amounts from
its general-ledger impact in the primary accounting book — NetSuite's own conversion, as
its trial balance shows it. Journals keyed in by hand (no tag) are not Cashloop's and are
left out; a tagged journal naming an account, subsidiary or currency the books do not map
is an error, not something to skip, since the books would no longer tie without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money

from .netsuite import suiteql_page
from .netsuite_records import SYSTEM, NetSuiteBooks, Tag, plain_external_id, source_of

# One row per journal line with its primary-book GL impact; read in pages keyed by the
# journal's internal id, so a page never splits a journal and offsets never grow.
JOURNALS_QUERY = (
    "SELECT t.id AS journal, t.externalid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, "
    "t.memo, t.currency, t.exchangerate, tl.id AS line, tl.subsidiary, tal.account, "
    "tl.debitforeignamount, tl.creditforeignamount, tal.debit, tal.credit, "
    "c.externalid AS customer, tl.memo AS linememo "
    "FROM transaction t "
    "JOIN transactionline tl ON tl.transaction = t.id "
    "JOIN transactionaccountingline tal ON tal.transaction = tl.transaction "
    "AND tal.transactionline = tl.id "
    "JOIN accountingbook ab ON ab.id = tal.accountingbook "
    "LEFT JOIN customer c ON c.id = tl.entity "
    "WHERE t.type = 'Journal' AND t.memo LIKE '%[cashloop %' AND ab.isprimary = 'T' "
    "AND t.id > {after} ORDER BY t.id, tl.id")
PAGE = 1000


@dataclass
class Journals:
    """Cashloop's journals in NetSuite and what their tags say of the receivables."""

    entries: list[JournalEntry] = field(default_factory=list)
    # entry external id -> the invoice whose receivable it moves, as tagged (a payment's,
    # a credit memo's; an invoice's is its own source)
    invoices: dict[str, str] = field(default_factory=dict)
    due: dict[str, dt.date] = field(default_factory=dict)  # invoice id -> due date

    def add(self, other: Journals) -> None:
        self.entries += other.entries
        self.invoices.update(other.invoices)
        self.due.update(other.due)


async def read_journals(client: httpx.AsyncClient, books: NetSuiteBooks,
                        functional: Mapping[str, str], *, correlation_id: str,
                        target: str | None = None) -> Journals:
    """Every journal Cashloop posted to the account, oldest first; `functional` maps each
    legal entity to its functional currency."""
    journals = Journals()
    after = 0
    while True:
        rows, more = await suiteql_page(client, JOURNALS_QUERY.format(after=after),
                                        correlation_id, limit=PAGE, target=target)
        if more:
            # the page may end inside its last journal: that one starts the next page
            last = rows[-1]["journal"]
            rows = [r for r in rows if r["journal"] != last]
            if not rows:
                raise InvalidDataError(f"NetSuite journal {last} has more than {PAGE} lines",
                                       system=SYSTEM)
        journals.add(journals_from_rows(rows, books, functional))
        if not more:
            return journals
        after = int(rows[-1]["journal"])


def journals_from_rows(rows: list[dict[str, Any]], books: NetSuiteBooks,
                       functional: Mapping[str, str]) -> Journals:
    """The journals of JOURNALS_QUERY's rows (ordered by journal), untagged ones left out."""
    by_journal: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_journal.setdefault(str(row["journal"]), []).append(row)
    reverse = _Reverse(books)
    found = Journals()
    for lines in by_journal.values():
        tag = source_of(str(lines[0].get("memo") or ""))
        if tag is None or not lines[0].get("externalid"):
            continue
        entry = _entry(lines, tag, reverse, functional)
        found.entries.append(entry)
        if tag.invoice:
            found.invoices[entry.external_id] = tag.invoice
        if tag.due and tag.source_type == "invoice":
            found.due[tag.source_id] = tag.due
    return found


class _Reverse:
    """NetSuite's internal ids back to Cashloop's codes."""

    def __init__(self, books: NetSuiteBooks) -> None:
        self.books = books
        self.entities = {v: k for k, v in books.subsidiaries.items()}
        self.currencies = {v: k for k, v in books.currencies.items()}
        self.accounts = {entity: {v: k for k, v in ids.items()}
                         for entity, ids in books.accounts.items()}

    def entity(self, journal: str, subsidiary: Any) -> str:
        found = self.entities.get(str(subsidiary))
        if found is None:
            raise InvalidDataError(f"NetSuite journal {journal} is in subsidiary {subsidiary}, "
                                   "which CASHLOOP_NETSUITE_BOOKS maps to no legal entity",
                                   system=SYSTEM)
        return found

    def currency(self, journal: str, currency: Any) -> str:
        found = self.currencies.get(str(currency))
        if found is None:
            raise InvalidDataError(f"NetSuite journal {journal} is in currency record "
                                   f"{currency}, which CASHLOOP_NETSUITE_BOOKS does not map",
                                   system=SYSTEM)
        return found

    def account(self, journal: str, entity: str, account: Any) -> str:
        found = self.accounts.get(entity, {}).get(str(account))
        if found is None:
            raise InvalidDataError(f"NetSuite journal {journal} posts to account {account}, "
                                   f"which CASHLOOP_NETSUITE_BOOKS does not map for {entity}",
                                   system=SYSTEM)
        return found

    def customer(self, external: Any) -> str | None:
        if not external:
            return None
        plain = plain_external_id(str(external))
        prefix = self.books.customer_prefix
        return plain.removeprefix(prefix) if plain.startswith(prefix) else None


def _entry(rows: list[dict[str, Any]], tag: Tag, reverse: _Reverse,
           functional: Mapping[str, str]) -> JournalEntry:
    head = rows[0]
    journal = str(head["journal"])
    entity = reverse.entity(journal, head["subsidiary"])
    currency = reverse.currency(journal, head["currency"])
    home = functional.get(entity)
    if home is None:
        raise InvalidDataError(f"NetSuite journal {journal} books legal entity {entity}, "
                               "which config/entities.toml does not define", system=SYSTEM)
    foreign = home != currency
    lines = []
    for row in rows:
        debit, credit = _dec(row.get("debitforeignamount")), _dec(row.get("creditforeignamount"))
        base_debit, base_credit = _dec(row.get("debit")), _dec(row.get("credit"))
        if not (debit or credit or base_debit or base_credit):
            continue
        side = Side.DEBIT if (debit or (not credit and base_debit)) else Side.CREDIT
        amount = debit - credit if side == Side.DEBIT else credit - debit
        base = base_debit - base_credit if side == Side.DEBIT else base_credit - base_debit
        lines.append(JournalLine(
            account=reverse.account(journal, entity, row["account"]), side=side,
            amount=Money(amount=abs(amount), currency=currency),
            functional_amount=Money(amount=abs(base), currency=home) if foreign else None,
            customer_id=reverse.customer(row.get("customer")),
            memo=str(row.get("linememo") or "")))
    return JournalEntry(
        external_id=plain_external_id(str(head["externalid"])), legal_entity=entity,
        posting_date=dt.date.fromisoformat(str(head["trandate"])), currency=currency,
        lines=lines, memo=tag.memo, source_type=tag.source_type, source_id=tag.source_id,
        functional_currency=home if foreign else None,
        rate=_dec(head.get("exchangerate")) if foreign else None)


def _dec(value: Any) -> Decimal:
    """SuiteQL's numbers arrive as JSON numbers or strings, empty when null."""
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))
