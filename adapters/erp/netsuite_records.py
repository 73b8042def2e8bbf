"""Cashloop's postings as NetSuite records: the account's ids, external ids, record bodies.

Every journal Cashloop's posting rules compute (an invoice's, a credit memo's, a
payment's, a write-off, a refund) becomes one NetSuite `journalEntry` with those lines,
so NetSuite's general ledger holds exactly Cashloop's accounting (deferred revenue, tax,
FX) rather than NetSuite re-deriving it from items; the receivable lines name the
customer, so NetSuite's customer balances and aging see them. Customers are `customer`
records, contracts a custom record (NetSuite has no contract record without SuiteBilling).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import Field

from canonical.base import Canonical
from canonical.customer import CustomerAccount
from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, Side
from canonical.subscription import Subscription

SYSTEM = "erp"
# NetSuite's memo fields take at most this many characters.
MEMO_MAX = 999
REVERSED_BY = "custbody_cashloop_reversed_by"
CONTRACT_STATUS = "custrecord_cashloop_status"
CONTRACT_REASON = "custrecord_cashloop_reason"
CONTRACT_CUSTOMER = "custrecord_cashloop_customer"


class NetSuiteBooks(Canonical):
    """The ids of one NetSuite account that Cashloop's postings name.

    `accounts` maps each legal entity's account codes (config/entities.toml) to
    NetSuite's internal ids of those accounts; `subsidiaries` the legal entities to their
    subsidiaries; `currencies` ISO codes to NetSuite's currency records.
    """

    subsidiaries: dict[str, str]
    accounts: dict[str, dict[str, str]]
    currencies: dict[str, str]
    contract_record: str = "customrecord_cashloop_contract"
    # Cashloop's customer ids as NetSuite's customer external ids: "cust:{id}".
    customer_prefix: str = Field(default="cust:")

    def subsidiary(self, legal_entity: str) -> dict[str, str]:
        if legal_entity not in self.subsidiaries:
            raise InvalidDataError(f"NetSuite: no subsidiary configured for {legal_entity} "
                                   "(CASHLOOP_NETSUITE_BOOKS subsidiaries)", system=SYSTEM)
        return {"id": self.subsidiaries[legal_entity]}

    def currency(self, code: str) -> dict[str, str]:
        if code not in self.currencies:
            raise InvalidDataError(f"NetSuite: no currency record configured for {code} "
                                   "(CASHLOOP_NETSUITE_BOOKS currencies)", system=SYSTEM)
        return {"id": self.currencies[code]}

    def account(self, legal_entity: str, code: str) -> dict[str, str]:
        found = self.accounts.get(legal_entity, {}).get(code)
        if found is None:
            raise InvalidDataError(f"NetSuite: no account configured for {legal_entity} "
                                   f"{code} (CASHLOOP_NETSUITE_BOOKS accounts)", system=SYSTEM)
        return {"id": found}


_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
_ESCAPED = re.compile(r"_([0-9a-f]+)_")
_SOURCE = re.compile(
    r"\s*\[cashloop (\S+) (\S+)(?: invoice (\S+))?(?: due (\d{4}-\d{2}-\d{2}))?\]$")


def ns_external_id(external_id: str) -> str:
    """A Cashloop external id in the characters NetSuite's take (letters, digits, `_`, `-`).

    `_` escapes every other character as two or more hex digits between underscores, so
    distinct ids stay distinct: inv:in_1~2 -> inv_3a_in_5f_1_7e_2.
    """
    return _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", external_id)


def plain_external_id(ns_id: str) -> str:
    """The Cashloop external id `ns_external_id` escaped: inv_3a_in_5f_1_7e_2 -> inv:in_1~2."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), ns_id)


class Tag(NamedTuple):
    """What a journal's header memo says of its source (`with_source`)."""

    memo: str
    source_type: str
    source_id: str
    invoice: str | None = None  # the invoice whose receivable it moves, when not its own
    due: dt.date | None = None  # an invoice's due date


def with_source(memo: str, source_type: str, source_id: str, *, invoice: str | None = None,
                due: dt.date | None = None) -> str:
    """A header memo ending in the entry's source (NetSuite has no field for it), so a
    journal in NetSuite says which Cashloop document it books and a later read of
    NetSuite's journals can tell, with the invoice a receivable movement belongs to and an
    invoice's due date for the aging: "Invoice in_1 [cashloop invoice in_1 due 2026-12-03]",
    "Payment py_1 for invoice in_1 [cashloop payment py_1 invoice in_1]"."""
    tag = (f"[cashloop {source_type} {source_id}" + (f" invoice {invoice}" if invoice else "")
           + (f" due {due.isoformat()}" if due else "") + "]")
    return f"{memo[:MEMO_MAX - len(tag) - 1]} {tag}".lstrip()


def source_of(memo: str) -> Tag | None:
    """The tag `with_source` wrote in a header memo; None for a journal Cashloop did not
    post."""
    found = _SOURCE.search(memo)
    if found is None:
        return None
    invoice, due = found.group(3), found.group(4)
    return Tag(memo[:found.start()], found.group(1), found.group(2), invoice,
               dt.date.fromisoformat(due) if due else None)


class _Number(str):
    """A Decimal to be written as a JSON number."""


def _marked(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _Number(f"\x00{value}\x00")
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def json_body(body: dict[str, Any]) -> bytes:
    """JSON with Decimals as exact numbers (never through float)."""
    text = json.dumps(_marked(body), ensure_ascii=False)
    return re.sub(r'"\\u0000(-?[0-9.]+(?:E[-+]?[0-9]+)?)\\u0000"', r"\1", text).encode()


def parse_body(content: bytes) -> dict[str, Any]:
    """NetSuite's JSON with numbers as Decimals."""
    parsed: dict[str, Any] = json.loads(content, parse_float=Decimal, parse_int=Decimal)
    return parsed


def journal_body(entry: JournalEntry, books: NetSuiteBooks, customers: dict[str, str], *,
                 external_id: str, tran_date: dt.date, invoice: str | None = None,
                 due: dt.date | None = None) -> dict[str, Any]:
    """A `journalEntry` of one entry; `customers` maps customer ids to internal ids;
    `invoice` and `due` go into its tag (`with_source`)."""
    lines = []
    for ln in entry.lines:
        if not ln.amount.amount:
            # a functional-only line (Cashloop's FX rounding and realised difference):
            # NetSuite derives each line's functional amount from the rate itself
            continue
        item: dict[str, Any] = {
            "account": books.account(entry.legal_entity, ln.account),
            "debit" if ln.side == Side.DEBIT else "credit": ln.amount.amount,
            "memo": ln.memo[:MEMO_MAX]}
        if ln.customer_id is not None:
            item["entity"] = {"id": customers[ln.customer_id]}
        lines.append(item)
    foreign = entry.functional_currency not in (None, entry.currency)
    return {"externalId": ns_external_id(external_id),
            "subsidiary": books.subsidiary(entry.legal_entity),
            "currency": books.currency(entry.currency),
            "exchangeRate": entry.rate if foreign and entry.rate else Decimal(1),
            "tranDate": tran_date.isoformat(),
            "memo": with_source(entry.memo, entry.source_type, entry.source_id,
                                invoice=invoice, due=due),
            "line": {"items": lines}}


def mirror_body(original: dict[str, Any], *, external_id: str, tran_date: dt.date,
                memo: str, reverses: str) -> dict[str, Any]:
    """The reversing `journalEntry` of a NetSuite journal read with its lines."""
    lines = []
    for ln in original.get("line", {}).get("items", []):
        item: dict[str, Any] = {"account": {"id": ln["account"]["id"]},
                                "memo": ln.get("memo") or ""}
        if ln.get("debit"):
            item["credit"] = ln["debit"]
        if ln.get("credit"):
            item["debit"] = ln["credit"]
        if ln.get("entity"):
            item["entity"] = {"id": ln["entity"]["id"]}
        lines.append(item)
    if not lines:
        raise InvalidDataError(f"NetSuite answered journal {original.get('id')} without its "
                               "lines: it cannot be mirrored", system=SYSTEM)
    return {"externalId": ns_external_id(external_id),
            "subsidiary": {"id": original["subsidiary"]["id"]},
            "currency": {"id": original["currency"]["id"]},
            "exchangeRate": original.get("exchangeRate", Decimal(1)),
            "tranDate": tran_date.isoformat(), "memo": with_source(memo, "reversal", reverses),
            "line": {"items": lines}}


def customer_body(customer: CustomerAccount, books: NetSuiteBooks) -> dict[str, Any]:
    """The customer's fields for an upsert (`PUT .../customer/eid:{id}`: the external id is
    the URL's, not the body's)."""
    body: dict[str, Any] = {
        "isPerson": False,
        "companyName": customer.name, "subsidiary": books.subsidiary(customer.legal_entity),
        "currency": books.currency(customer.currency)}
    if customer.bill_to.email:
        body["email"] = customer.bill_to.email
    return body


def contract_body(subscription: Subscription, external_id: str) -> dict[str, Any]:
    return {"externalId": ns_external_id(external_id),
            "name": external_id[:MEMO_MAX],
            CONTRACT_CUSTOMER: subscription.customer_id,
            CONTRACT_STATUS: "active"}
