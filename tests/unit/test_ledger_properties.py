"""Property tests over generated document streams: the ledger's invariants always hold.

Each generated stream holds invoices (USD, or EUR for the USD entity at a generated
booking rate; with or without tax) with their revenue schedules, recognition of closed
periods, early ends with credit memos, payments in up to three parts at other rates,
refunds, and what is left written off or credited. Whatever the stream, every journal
balances in both currencies, receivables per customer follow the documents, a settled
foreign receivable is settled in the functional currency too (exactly when a payment, a
write-off or a credit memo settled it),
deferred revenue equals the unrecognised schedule periods, and the deferred revenue
rollforward ties from period to period.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canonical import posting
from canonical.accounts import AccountRole
from canonical.billing import (
    CreditMemo,
    CreditMemoLine,
    Invoice,
    InvoiceLine,
    LineKind,
    TaxLine,
    TaxResult,
)
from canonical.catalog import RecognitionMethod
from canonical.fx import convert
from canonical.ledger import JournalEntry, Side
from canonical.money import Money, round_amount
from canonical.payment import Payment, Refund
from canonical.reports import deferred_balance, deferred_rollforward
from canonical.schedules import end_schedule, period_of, schedules_for_invoice
from settings import load_entities
from workflows.ledger_view import memo_settles

US = load_entities(Path("config/entities.toml"))["US01"].chart
AR = US.code(AccountRole.ACCOUNTS_RECEIVABLE)
D0 = dt.date(2026, 1, 1)

rates = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("2"), places=4)
cents = st.integers(min_value=1, max_value=5_000_000)


@dataclass
class Plan:
    customer: str
    currency: str
    amount: int  # minor units
    usage: int
    start: int  # days after D0
    days: int
    method: RecognitionMethod
    rate: Decimal
    end_after: int | None  # days after start
    credit_delta: int  # minor units the platform's credit differs from the release
    pay_share: float
    pay_rate: Decimal
    refund_share: float
    rest: str  # what is left after payments and refunds: "write_off", "credit" or kept
    tax_rate: Decimal = Decimal(0)  # on the recurring line, and on its credit
    pay_parts: int = 1  # the payment arrives in this many parts, the last one settling


plans = st.builds(
    Plan, customer=st.sampled_from(["c1", "c2", "c3"]), currency=st.sampled_from(["USD", "EUR"]),
    amount=cents, usage=st.integers(0, 50_000), start=st.integers(0, 400),
    days=st.integers(1, 800), method=st.sampled_from(list(RecognitionMethod)), rate=rates,
    end_after=st.none() | st.integers(0, 800), credit_delta=st.integers(-300, 300),
    pay_share=st.sampled_from([0.0, 0.3, 1.0]), pay_rate=rates,
    refund_share=st.sampled_from([0.0, 0.5]), rest=st.sampled_from(["", "write_off", "credit"]),
    tax_rate=st.sampled_from([Decimal(0), Decimal("0.0725"), Decimal("0.19")]),
    pay_parts=st.integers(1, 3))


@dataclass
class Books:
    entries: list[JournalEntry]
    ar_expected: dict[tuple[str, str], Decimal]  # (customer, currency) -> amount
    # per foreign-currency invoice settled in its currency: its receivable's functional
    # balance, the number of lines that moved it, whether a settling document (payment,
    # write-off, credit memo) ended it
    settled_functional_ar: list[tuple[Decimal, int, bool]]
    deferred_expected: Decimal  # functional, unrecognised schedule periods


def _money(minor: int, cur: str) -> Money:
    return Money.of(Decimal(minor) / 100, cur)


def book(stream: list[Plan], close: dt.date) -> Books:
    """Post a stream with the rules; `close`: periods ending by then are recognised."""
    entries: list[JournalEntry] = []
    ar: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    deferred = Decimal(0)
    settled: list[tuple[Decimal, int, bool]] = []
    for n, p in enumerate(stream):
        first = len(entries)
        cur, start = p.currency, D0 + dt.timedelta(days=p.start)
        rate = p.rate if cur != "USD" else None
        end = start + dt.timedelta(days=p.days)
        lines = [InvoiceLine(line_id=f"i{n}-1", kind=LineKind.RECURRING, description="x",
                             plan_code="plan", amount=_money(p.amount, cur), period_start=start,
                             period_end=end)]
        if p.usage:
            lines.append(InvoiceLine(line_id=f"i{n}-u", kind=LineKind.USAGE, description="u",
                                     amount=_money(p.usage, cur)))
        tax = _money(0, cur)
        tax_result = None
        if p.tax_rate:
            tax = Money.of(round_amount(lines[0].amount.amount * p.tax_rate, cur), cur)
            tax_result = TaxResult(
                provider="t", calculation_id=f"t{n}", calculated_at=dt.datetime(2026, 1, 1,
                                                                                  tzinfo=dt.UTC),
                lines=[TaxLine(line_id=f"i{n}-1", jurisdiction="X", rate=p.tax_rate,
                               taxable=lines[0].amount, amount=tax)], total=tax)
        inv = Invoice(invoice_id=f"i{n}", customer_id=p.customer, legal_entity="US01",
                      currency=cur, issued_on=start, due_on=start, lines=lines, tax=tax_result)
        entries.append(posting.invoice_entry(inv, US, rate=rate))
        ar[(p.customer, cur)] += inv.total.amount
        sched = schedules_for_invoice(inv, {"plan": p.method}, "USD", rate)[0]
        end_on = None if p.end_after is None else start + dt.timedelta(days=p.end_after)
        done = frozenset(q.period for q in sched.periods
                         if q.end <= close and (end_on is None or q.end <= end_on))
        periods = sched.periods
        open_total = inv.total
        moved = [inv.total.amount]  # what moved the receivable, as the entity keeps it
        credited_all = False
        if end_on is not None and end_on < end:
            cut = end_schedule(sched, end_on, done)
            periods = cut.periods
            credit = max(cut.released + _money(p.credit_delta, cur), _money(1, cur))
            credit = min(credit, inv.subtotal)
            credit_tax = min(Money.of(round_amount(credit.amount * p.tax_rate, cur), cur), tax)
            memo = CreditMemo(credit_memo_id=f"cm{n}", customer_id=p.customer,
                              invoice_id=inv.invoice_id, legal_entity="US01", currency=cur,
                              issued_on=max(end_on, start), reason="end",
                              lines=[CreditMemoLine(line_id="1", description="x", amount=credit,
                                                    tax_amount=credit_tax)])
            memo_settles_ = memo_settles(memo, {inv.invoice_id: moved}) if rate else {}
            entries.append(posting.credit_memo_entry(
                memo, US, deferred_release=cut.released, rate=rate,
                deferred_release_functional=cut.released_functional, settles=memo_settles_))
            ar[(p.customer, cur)] -= memo.total.amount
            open_total = open_total - memo.total
            credited_all = bool(memo_settles_)
            moved = [] if credited_all else [*moved, -memo.total.amount]
        for q in periods:
            fn = q.functional_amount or q.amount
            if q.end <= close and not (q.amount.is_zero() and fn.is_zero()):
                entries.append(posting.period_recognition_entry(
                    sched.model_copy(update={"periods": periods}), q, US))
            elif q.end > close:
                deferred += fn.amount
        paid = open_total.times(Decimal(str(p.pay_share)))
        received = start + dt.timedelta(days=10)
        settles = paid == open_total and rate is not None
        parts = [m for m in paid.allocate([1] * p.pay_parts) if m.amount > 0]
        for k, part in enumerate(parts):
            pay = Payment(payment_id=f"p{n}-{k}", invoice_id=inv.invoice_id,
                          customer_id=p.customer, legal_entity="US01", amount=part,
                          received_on=received + dt.timedelta(days=k))
            last = k == len(parts) - 1
            entries.append(posting.payment_entry(
                pay, US, rate=p.pay_rate if rate else None, invoice_rate=rate,
                settles=list(moved) if settles and last else None))
            moved = [] if settles and last else [*moved, -part.amount]
            ar[(p.customer, cur)] -= part.amount
        refund = paid.times(Decimal(str(p.refund_share)))
        if refund.amount > 0:
            entries.append(posting.refund_entry(Refund(
                refund_id=f"r{n}", payment_id=f"p{n}-0", customer_id=p.customer,
                legal_entity="US01", amount=refund, refunded_on=received),
                US, rate=p.pay_rate if rate else None, invoice_rate=rate))
            ar[(p.customer, cur)] += refund.amount
            moved.append(refund.amount)
        remaining = open_total - paid + refund
        swept = ((settles and paid.amount > 0) or credited_all) and refund.amount == 0
        if p.rest == "write_off" and remaining.amount > 0:
            entries.append(posting.write_off_entry(
                inv.invoice_id, remaining, "US01", p.customer, received, US, rate=rate,
                settles=moved if rate is not None else None))
            ar[(p.customer, cur)] -= remaining.amount
            swept = rate is not None
        elif p.rest == "credit" and remaining.amount > 0:
            # a goodwill credit of the balance: revenue reversed, the schedules untouched
            rest = CreditMemo(credit_memo_id=f"cmr{n}", customer_id=p.customer,
                              invoice_id=inv.invoice_id, legal_entity="US01", currency=cur,
                              issued_on=received, reason="goodwill",
                              lines=[CreditMemoLine(line_id="1", description="x",
                                                    amount=remaining,
                                                    tax_amount=_money(0, cur))])
            entries.append(posting.credit_memo_entry(
                rest, US, deferred_release=_money(0, cur), rate=rate,
                settles=memo_settles(rest, {inv.invoice_id: moved}) if rate else None))
            ar[(p.customer, cur)] -= remaining.amount
            swept = rate is not None
        moves = [(ln.amount.amount, ln.functional_amount.amount)
                 if ln.side == Side.DEBIT else (-ln.amount.amount, -ln.functional_amount.amount)
                 for e in entries[first:] for ln in e.lines
                 if ln.account == AR and ln.functional_amount is not None]
        if rate is not None and sum(d for d, _ in moves) == 0:
            settled.append((sum((f for _, f in moves), Decimal(0)), len(moves), swept))
    return Books(entries, dict(ar), settled, deferred)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.lists(plans, min_size=1, max_size=6),
       close_days=st.integers(0, 1200))
def test_ledger_invariants_hold_for_any_stream(stream: list[Plan], close_days: int) -> None:
    close = D0 + dt.timedelta(days=close_days)
    books = book(stream, close)

    for entry in books.entries:  # every journal balances, in both currencies
        for amounts in ([ln.amount for ln in entry.lines],
                        [ln.functional_amount or convert(ln.amount, Decimal(1), "USD")
                         for ln in entry.lines] if entry.currency == "USD" else
                        [ln.functional_amount for ln in entry.lines]):
            signed = [a.amount if ln.side == Side.DEBIT else -a.amount  # type: ignore[union-attr]
                      for a, ln in zip(amounts, entry.lines, strict=True)]
            assert sum(signed) == 0, entry.external_id

    ar: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in books.entries:  # AR per customer = invoices - credits - payments + ...
        for ln in entry.lines:
            if ln.account == AR:
                sign = 1 if ln.side == Side.DEBIT else -1
                ar[(ln.customer_id or "", ln.amount.currency)] += sign * ln.amount.amount
    assert {k: v for k, v in ar.items() if v} == {
        k: v for k, v in books.ar_expected.items() if v}

    # a foreign receivable settled in its currency is settled in the functional one: to
    # the last minor unit when a payment or write-off settled it (it relieves what is
    # left), else but for rounding — every line that moved it is converted at the
    # invoice's booking rate (refunds too), so each adds at most half a minor unit
    for balance, lines, by_payment in books.settled_functional_ar:
        assert abs(balance) <= (0 if by_payment else Decimal("0.005") * lines), (balance, lines)

    # deferred revenue = the unrecognised schedule periods (functional currency)
    assert deferred_balance(books.entries, US).amount == books.deferred_expected

    months = sorted({period_of(e.posting_date) for e in books.entries})
    previous = None
    for month in months:  # the rollforward ties and chains from month to month
        rf = deferred_rollforward(books.entries, US, month)
        assert rf.ties, rf
        if previous is not None and period_of(
                dt.date.fromisoformat(previous.period + "-01") + dt.timedelta(days=31)) == month:
            assert rf.opening == previous.closing
        previous = rf
    assert previous is not None
    assert previous.closing == deferred_balance(books.entries, US)
