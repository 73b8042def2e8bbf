"""The ledger as an hledger journal and as a beancount file, for independent checking.

Accounts are `<type>:<entity>:<role>:<code>` (hledger: `assets:US01:receivables:1200`,
beancount: `Assets:US01:Receivables:1200`). A line in the entity's functional currency is
written as is; a line in another currency carries its functional amount as a total
price (`-1190.00 EUR @@ 1309.00 USD`), so both tools balance every transaction in the
functional currency and `hledger bal -B` shows what our trial balance shows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from .accounts import ROLE_TYPES, AccountRole, AccountType, LegalEntity
from .ledger import JournalEntry, JournalLine, Side
from .money import minor_units

_ROOTS_HLEDGER = {AccountType.ASSET: "assets", AccountType.LIABILITY: "liabilities",
                  AccountType.EQUITY: "equity", AccountType.REVENUE: "revenues",
                  AccountType.EXPENSE: "expenses"}
_ROOTS_BEANCOUNT = {AccountType.ASSET: "Assets", AccountType.LIABILITY: "Liabilities",
                    AccountType.EQUITY: "Equity", AccountType.REVENUE: "Income",
                    AccountType.EXPENSE: "Expenses"}
_ROLE_NAMES = {
    AccountRole.ACCOUNTS_RECEIVABLE: "receivables", AccountRole.CASH_CLEARING: "cash-clearing",
    AccountRole.DEFERRED_REVENUE: "deferred-revenue", AccountRole.TAX_PAYABLE: "tax-payable",
    AccountRole.SUBSCRIPTION_REVENUE: "subscription", AccountRole.USAGE_REVENUE: "usage",
    AccountRole.PAYMENT_FEES: "payment-fees", AccountRole.BAD_DEBT_EXPENSE: "bad-debt",
    AccountRole.FX_GAIN_LOSS: "fx-gain-loss",
}


def _role_of(entity: LegalEntity, code: str) -> AccountRole:
    for role, account in entity.chart.accounts.items():
        if account.code == code:
            return role
    raise ValueError(f"{entity.code} has no account {code}")


def hledger_account(entity: LegalEntity, code: str) -> str:
    """`assets:US01:receivables:1200`."""
    role = _role_of(entity, code)
    return f"{_ROOTS_HLEDGER[ROLE_TYPES[role]]}:{entity.code}:{_ROLE_NAMES[role]}:{code}"


def beancount_account(entity: LegalEntity, code: str) -> str:
    """`Assets:US01:Receivables:1200` (every component capitalised)."""
    role = _role_of(entity, code)
    name = "".join(part.capitalize() for part in _ROLE_NAMES[role].split("-"))
    return f"{_ROOTS_BEANCOUNT[ROLE_TYPES[role]]}:{entity.code}:{name}:{code}"


def _signed(line: JournalLine, amount: Decimal) -> Decimal:
    return amount if line.side == Side.DEBIT else -amount


def _amount(line: JournalLine, functional_currency: str) -> str:
    """`-1190.00 EUR @@ 1309.00 USD`, or the plain amount in the functional currency."""
    money, fn = line.amount, line.functional_amount
    if fn is None or money.currency == functional_currency:
        return f"{_signed(line, money.amount)} {money.currency}"
    if money.is_zero():  # an FX difference or rounding line: functional only
        return f"{_signed(line, fn.amount)} {fn.currency}"
    return f"{_signed(line, money.amount)} {money.currency} @@ {fn.amount} {fn.currency}"


def _text(value: str) -> str:
    return " ".join(value.replace(";", ",").replace('"', "'").split())


def _sorted(entries: Iterable[JournalEntry],
            entities: Mapping[str, LegalEntity]) -> list[JournalEntry]:
    return sorted((e for e in entries if e.legal_entity in entities),
                  key=lambda e: (e.posting_date, e.legal_entity, e.external_id))


def _accounts(entries: list[JournalEntry]) -> dict[tuple[str, str], set[str]]:
    """(entity, account code) -> currencies written on it."""
    used: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in entries:
        for ln in e.lines:
            used[(e.legal_entity, ln.account)].add(ln.amount.currency)
            if ln.functional_amount is not None:
                used[(e.legal_entity, ln.account)].add(ln.functional_amount.currency)
    return used


def hledger_journal(entries: Iterable[JournalEntry],
                    entities: Mapping[str, LegalEntity]) -> str:
    """An hledger journal with commodity and account directives (passes `check -s`)."""
    ordered = _sorted(entries, entities)
    used = _accounts(ordered)
    currencies = sorted({c for cs in used.values() for c in cs})
    out = ["; Cashloop ledger export (hledger). Balances at cost (-B) are in each legal",
           "; entity's functional currency.", ""]
    for cur in currencies:
        digits = minor_units(cur)
        out.append(f"commodity 1000.{'0' * digits} {cur}")
    out.append("")
    for (entity_id, code) in sorted(used):
        out.append(f"account {hledger_account(entities[entity_id], code)}")
    out.append("")
    for e in ordered:
        entity = entities[e.legal_entity]
        tags = f"external_id:{e.external_id}, entity:{e.legal_entity}, source:{e.source_type}"
        if e.rate is not None:
            tags += f", rate:{e.rate}"
        out.append(f"{e.posting_date.isoformat()} * {_text(e.memo) or e.external_id}  ; {tags}")
        for ln in e.lines:
            memo = f"  ; {_text(ln.memo)}" if ln.memo else ""
            out.append(f"    {hledger_account(entity, ln.account)}  "
                       f"{_amount(ln, entity.chart.functional_currency)}{memo}")
        out.append("")
    return "\n".join(out)


def beancount_ledger(entries: Iterable[JournalEntry],
                     entities: Mapping[str, LegalEntity]) -> str:
    """A beancount file with an Open directive for every account used (passes bean-check)."""
    ordered = _sorted(entries, entities)
    used = _accounts(ordered)
    opened = min((e.posting_date for e in ordered), default=dt.date(2000, 1, 1))
    out = ['option "title" "Cashloop ledger export"', ""]
    for cur in sorted({c for cs in used.values() for c in cs}):
        out.append(f"{opened.isoformat()} commodity {cur}")
    out.append("")
    for (entity_id, code), currencies in sorted(used.items()):
        out.append(f"{opened.isoformat()} open {beancount_account(entities[entity_id], code)} "
                   f"{','.join(sorted(currencies))}")
    out.append("")
    for e in ordered:
        entity = entities[e.legal_entity]
        out.append(f'{e.posting_date.isoformat()} * "{_text(e.memo) or e.external_id}"')
        out.append(f'  external_id: "{_text(e.external_id)}"')
        out.append(f'  entity: "{e.legal_entity}"')
        if e.rate is not None:
            out.append(f'  rate: "{e.rate}"')
        for ln in e.lines:
            out.append(f"  {beancount_account(entity, ln.account)}  "
                       f"{_amount(ln, entity.chart.functional_currency)}")
        out.append("")
    return "\n".join(out)
