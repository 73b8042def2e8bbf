"""Ledger reports computed from journal entries (pure; the starter fetches the entries)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from .accounts import ChartOfAccounts
from .base import Canonical
from .ledger import JournalEntry, Side
from .money import Money


class TrialBalanceRow(Canonical):
    account: str
    name: str
    debit: Money
    credit: Money

    @property
    def balance(self) -> Money:
        """Debit-positive balance."""
        return self.debit - self.credit


class TrialBalance(Canonical):
    legal_entity: str
    currency: str
    as_of: dt.date | None
    rows: list[TrialBalanceRow]
    total_debit: Money
    total_credit: Money

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit


def functional_amount(entry: JournalEntry, index: int, chart: ChartOfAccounts) -> Money:
    """A line's amount in the entity's functional currency."""
    line = entry.lines[index]
    if line.functional_amount is not None:
        return line.functional_amount
    if line.amount.currency != chart.functional_currency:
        raise ValueError(f"{entry.external_id}: {line.amount.currency} line without a "
                         f"functional amount in {chart.functional_currency}")
    return line.amount


def trial_balance(entries: Iterable[JournalEntry], chart: ChartOfAccounts,
                  as_of: dt.date | None = None) -> TrialBalance:
    """Debits and credits per account of one legal entity, in its functional currency."""
    cur = chart.functional_currency
    debit: dict[str, Decimal] = defaultdict(Decimal)
    credit: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry.legal_entity != chart.legal_entity:
            continue
        if as_of is not None and entry.posting_date > as_of:
            continue
        for i, line in enumerate(entry.lines):
            amount = functional_amount(entry, i, chart).amount
            (debit if line.side == Side.DEBIT else credit)[line.account] += amount
    names = {a.code: a.name for a in chart.accounts.values()}
    rows = [TrialBalanceRow(account=code, name=names.get(code, "?"),
                            debit=Money(amount=debit[code], currency=cur),
                            credit=Money(amount=credit[code], currency=cur))
            for code in sorted(debit.keys() | credit.keys())]
    return TrialBalance(
        legal_entity=chart.legal_entity, currency=cur, as_of=as_of, rows=rows,
        total_debit=Money(amount=sum(debit.values(), Decimal(0)), currency=cur),
        total_credit=Money(amount=sum(credit.values(), Decimal(0)), currency=cur))
