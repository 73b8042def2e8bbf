"""Ledger reports computed from journal entries (pure; the starter fetches the entries)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

from .accounts import AccountRole, ChartOfAccounts
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


def _deferred_balance(entries: Iterable[JournalEntry], chart: ChartOfAccounts,
                      keep: Callable[[JournalEntry], bool]) -> Decimal:
    """Credit-positive functional balance of deferred revenue over the kept entries."""
    code = chart.code(AccountRole.DEFERRED_REVENUE)
    balance = Decimal(0)
    for entry in entries:
        if entry.legal_entity != chart.legal_entity or not keep(entry):
            continue
        for i, line in enumerate(entry.lines):
            if line.account == code:
                amount = functional_amount(entry, i, chart).amount
                balance += amount if line.side == Side.CREDIT else -amount
    return balance


class Rollforward(Canonical):
    """Deferred revenue of one entity over one period, in its functional currency.

    opening + billings - recognised + other = closing, where `other` is every other
    movement (credit memos releasing deferrals, reversals).
    """

    legal_entity: str
    period: str
    currency: str
    opening: Money
    billings: Money
    recognised: Money
    other: Money
    closing: Money

    @property
    def ties(self) -> bool:
        return self.opening + self.billings - self.recognised + self.other == self.closing


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """[first day, first day of the next month) of a YYYY-MM period."""
    year, month = (int(x) for x in period.split("-"))
    start = dt.date(year, month, 1)
    return start, dt.date(year + (month == 12), month % 12 + 1, 1)


def deferred_rollforward(entries: Iterable[JournalEntry], chart: ChartOfAccounts,
                         period: str) -> Rollforward:
    """Opening and closing balances computed on their own, movements by source type."""
    entries = list(entries)
    start, end = period_bounds(period)
    cur = chart.functional_currency

    def within(kind: str | None) -> Callable[[JournalEntry], bool]:
        def keep(e: JournalEntry) -> bool:
            if not start <= e.posting_date < end:
                return False
            return e.source_type not in ("invoice", "recognition") if kind is None \
                else e.source_type == kind
        return keep

    def money(x: Decimal) -> Money:
        return Money(amount=x, currency=cur)

    return Rollforward(
        legal_entity=chart.legal_entity, period=period, currency=cur,
        opening=money(_deferred_balance(entries, chart, lambda e: e.posting_date < start)),
        billings=money(_deferred_balance(entries, chart, within("invoice"))),
        recognised=money(-_deferred_balance(entries, chart, within("recognition"))),
        other=money(_deferred_balance(entries, chart, within(None))),
        closing=money(_deferred_balance(entries, chart, lambda e: e.posting_date < end)))


def deferred_balance(entries: Iterable[JournalEntry], chart: ChartOfAccounts) -> Money:
    """Deferred revenue now (every entry), credit-positive, in the functional currency."""
    return Money(amount=_deferred_balance(entries, chart, lambda _e: True),
                 currency=chart.functional_currency)


class OpenItem(Canonical):
    """What one invoice still owes, in its currency and the entity's functional one."""

    legal_entity: str
    customer_id: str | None
    invoice_id: str
    due_on: dt.date | None
    open: Money
    functional_open: Money


class AgingRow(Canonical):
    legal_entity: str
    customer_id: str | None
    currency: str  # functional
    buckets: dict[str, Money]

    @property
    def total(self) -> Money:
        result = Money.zero(self.currency)
        for m in self.buckets.values():
            result = result + m
        return result


AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "over 90")


def open_items(entries: Iterable[JournalEntry], chart: ChartOfAccounts,
               invoice_of: Callable[[JournalEntry], str | None],
               due_dates: dict[str, dt.date], as_of: dt.date | None = None) -> list[OpenItem]:
    """Receivables per invoice; an AR movement no invoice claims is listed as unapplied."""
    ar = chart.code(AccountRole.ACCOUNTS_RECEIVABLE)
    amounts: dict[tuple[str, str | None], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)])
    currencies: dict[tuple[str, str | None], str] = {}
    for entry in entries:
        if entry.legal_entity != chart.legal_entity or (
                as_of is not None and entry.posting_date > as_of):
            continue
        invoice_id = invoice_of(entry) or "unapplied"
        for i, line in enumerate(entry.lines):
            if line.account != ar:
                continue
            sign = 1 if line.side == Side.DEBIT else -1
            key = (invoice_id, line.customer_id)
            amounts[key][0] += sign * line.amount.amount
            amounts[key][1] += sign * functional_amount(entry, i, chart).amount
            currencies.setdefault(key, line.amount.currency)
    return [OpenItem(legal_entity=chart.legal_entity, customer_id=cust, invoice_id=inv,
                     due_on=due_dates.get(inv),
                     open=Money(amount=t, currency=currencies[(inv, cust)]),
                     functional_open=Money(amount=f, currency=chart.functional_currency))
            for (inv, cust), (t, f) in sorted(amounts.items(), key=lambda kv: str(kv[0]))
            if t != 0 or f != 0]


def _bucket(due_on: dt.date | None, as_of: dt.date) -> str:
    days = 0 if due_on is None else (as_of - due_on).days
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    return "61-90" if days <= 90 else "over 90"


def ar_aging(items: Iterable[OpenItem], as_of: dt.date) -> list[AgingRow]:
    """Open receivables per (entity, customer) by days past due, in functional currency."""
    rows: dict[tuple[str, str | None], dict[str, Decimal]] = {}
    currency: dict[tuple[str, str | None], str] = {}
    for item in items:
        key = (item.legal_entity, item.customer_id)
        buckets = rows.setdefault(key, dict.fromkeys(AGING_BUCKETS, Decimal(0)))
        buckets[_bucket(item.due_on, as_of)] += item.functional_open.amount
        currency[key] = item.functional_open.currency
    return [AgingRow(legal_entity=e, customer_id=c, currency=currency[(e, c)],
                     buckets={b: Money(amount=x, currency=currency[(e, c)])
                              for b, x in buckets.items()})
            for (e, c), buckets in sorted(rows.items(), key=lambda kv: str(kv[0]))]
