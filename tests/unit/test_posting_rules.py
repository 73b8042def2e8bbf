"""Posting rules and revenue schedules with hand-checked figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from canonical import posting
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
from canonical.errors import UnbalancedJournalError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from canonical.payment import Payment, Refund
from canonical.schedules import end_schedule, schedules_for_invoice, spread
from settings import load_entities

CHARTS = {code: e.chart for code, e in load_entities(Path("config/entities.toml")).items()}
US = CHARTS["US01"]


def usd(x: str) -> Money:
    return Money(amount=Decimal(x), currency="USD")


def invoice() -> Invoice:
    lines = [
        InvoiceLine(line_id="l1", kind=LineKind.RECURRING, description="Pro", amount=usd("1200.00"),
                    period_start=dt.date(2026, 1, 1), period_end=dt.date(2027, 1, 1)),
        InvoiceLine(line_id="l2", kind=LineKind.USAGE, description="Overage",
                    amount=usd("80.00")),
    ]
    tax = TaxResult(provider="t", calculation_id="c", calculated_at=dt.datetime(2026, 1, 1,
                                                                                tzinfo=dt.UTC),
                    lines=[TaxLine(line_id="l1", jurisdiction="US-CA", rate=Decimal("0.0725"),
                                   taxable=usd("1200.00"), amount=usd("87.00")),
                           TaxLine(line_id="l2", jurisdiction="US-CA", rate=Decimal("0.0725"),
                                   taxable=usd("80.00"), amount=usd("5.80"))],
                    total=usd("92.80"))
    return Invoice(invoice_id="in_1", customer_id="c1", subscription_id="s1",
                   legal_entity="US01", currency="USD", issued_on=dt.date(2026, 1, 1),
                   due_on=dt.date(2026, 1, 31), lines=lines, tax=tax)


def amounts(entry: JournalEntry) -> dict[tuple[str, Side], Decimal]:
    return {(ln.account, ln.side): ln.amount.amount for ln in entry.lines}


def test_invoice_debits_ar_gross_and_splits_deferred_usage_and_tax() -> None:
    entry = posting.invoice_entry(invoice(), US)
    assert entry.external_id == "inv:in_1"
    assert amounts(entry) == {
        ("1200", Side.DEBIT): Decimal("1372.80"),
        ("2400", Side.CREDIT): Decimal("1200.00"),
        ("4100", Side.CREDIT): Decimal("80.00"),
        ("2200", Side.CREDIT): Decimal("92.80"),
    }


def test_payment_with_fee_clears_ar_and_books_the_fee() -> None:
    p = Payment(payment_id="p1", invoice_id="in_1", customer_id="c1", legal_entity="US01",
                amount=usd("1372.80"), fee=usd("40.11"), received_on=dt.date(2026, 1, 3))
    entry = posting.payment_entry(p, US)
    debit = sum(ln.amount.amount for ln in entry.lines if ln.side == Side.DEBIT)
    assert debit == Decimal("1412.91")
    assert [(ln.account, ln.side, str(ln.amount.amount)) for ln in entry.lines] == [
        ("1010", Side.DEBIT, "1372.80"), ("1200", Side.CREDIT, "1372.80"),
        ("6100", Side.DEBIT, "40.11"), ("1010", Side.CREDIT, "40.11")]


def test_unbalanced_entry_is_refused() -> None:
    with pytest.raises(UnbalancedJournalError):
        JournalEntry(external_id="x", legal_entity="US01", posting_date=dt.date(2026, 1, 1),
                     currency="USD", source_type="manual", source_id="x",
                     lines=[JournalLine(account="1200", side=Side.DEBIT, amount=usd("1.00")),
                            JournalLine(account="4000", side=Side.CREDIT, amount=usd("0.99"))])


def test_annual_term_from_mid_month_exact_days() -> None:
    periods = spread(usd("12000.00"), dt.date(2026, 1, 15), dt.date(2027, 1, 15),
                     RecognitionMethod.EXACT_DAYS)
    # 365 days: 12000/365 = 32.876712... a day
    assert [p.period for p in periods][:2] == ["2026-01", "2026-02"]
    assert len(periods) == 13
    assert periods[0].amount == usd("558.90")   # 17 days
    assert periods[1].amount == usd("920.55")   # 28 days
    assert periods[2].amount == usd("1019.18")  # 31 days
    assert periods[-1].amount == usd("460.27")  # 14 days, takes the remainder
    assert sum(p.amount.amount for p in periods) == Decimal("12000.00")


def test_annual_term_from_mid_month_equal_months() -> None:
    periods = spread(usd("12000.00"), dt.date(2026, 1, 15), dt.date(2027, 1, 15),
                     RecognitionMethod.EQUAL_MONTHS)
    # 17/31 of January + 11 full months + 14/31 of January 2027 = 12 months: 1000 a month
    assert periods[0].amount == usd("548.39")
    assert all(p.amount == usd("1000.00") for p in periods[1:-1])
    assert periods[-1].amount == usd("451.61")


def test_equal_months_from_the_first_is_exactly_one_twelfth() -> None:
    periods = spread(Money.of("120000.00", "EUR"), dt.date(2026, 3, 1), dt.date(2027, 3, 1),
                     RecognitionMethod.EQUAL_MONTHS)
    assert {p.amount.amount for p in periods} == {Decimal("10000.00")}


def credit_memo(net: str, tax: str) -> CreditMemo:
    return CreditMemo(credit_memo_id="cm_1", customer_id="c1", invoice_id="in_1",
                      legal_entity="US01", currency="USD", issued_on=dt.date(2026, 7, 1),
                      reason="downgrade", lines=[CreditMemoLine(
                          line_id="cm_1-1", description="unused Pro", amount=usd(net),
                          tax_amount=usd(tax))])


def test_credit_memo_releases_deferred_revenue_and_tax() -> None:
    entry = posting.credit_memo_entry(credit_memo("600.00", "43.50"), US)
    assert amounts(entry) == {("2400", Side.DEBIT): Decimal("600.00"),
                              ("2200", Side.DEBIT): Decimal("43.50"),
                              ("1200", Side.CREDIT): Decimal("643.50")}


def test_credit_beyond_the_released_deferral_reverses_recognised_revenue() -> None:
    entry = posting.credit_memo_entry(credit_memo("600.00", "43.50"), US,
                                      deferred_release=usd("598.36"))
    assert amounts(entry) == {("2400", Side.DEBIT): Decimal("598.36"),
                              ("4000", Side.DEBIT): Decimal("1.64"),
                              ("2200", Side.DEBIT): Decimal("43.50"),
                              ("1200", Side.CREDIT): Decimal("643.50")}


def test_released_deferral_beyond_the_credit_is_recognised() -> None:
    entry = posting.credit_memo_entry(credit_memo("600.00", "43.50"), US,
                                      deferred_release=usd("600.02"))
    assert amounts(entry)[("4000", Side.CREDIT)] == Decimal("0.02")


def annual_invoice(invoice_id: str, amount: str, start: dt.date, end: dt.date,
                   kind: LineKind = LineKind.RECURRING) -> Invoice:
    return Invoice(invoice_id=invoice_id, customer_id="c1", subscription_id="s1",
                   legal_entity="US01", currency="USD", issued_on=start,
                   due_on=start + dt.timedelta(days=30),
                   lines=[InvoiceLine(line_id=f"{invoice_id}-1", kind=kind, description="Pro",
                                      amount=usd(amount), period_start=start,
                                      period_end=end)])


def test_upgrade_mid_term_credits_unused_part_ends_schedule_and_rebills() -> None:
    # 12,000.00 a year from 15 January 2026; upgraded to 24,000.00 a year on 1 July 2026,
    # after January..June were recognised (558.90+920.55+1019.18+986.30+1019.18+986.30
    # = 5,490.41).
    start, upgrade, end = dt.date(2026, 1, 15), dt.date(2026, 7, 1), dt.date(2027, 1, 15)
    old = schedules_for_invoice(annual_invoice("in_1", "12000.00", start, end))[0]
    done = frozenset(p.period for p in old.periods if p.end <= upgrade)
    assert sum(p.amount.amount for p in old.periods if p.period in done) == Decimal("5490.41")

    cut = end_schedule(old, upgrade, recognised=done)
    # 198 unused days of 365: the billing platform credits 12000 * 198/365 = 6,509.59,
    # exactly the remaining periods July 2026 .. January 2027
    assert cut.released == usd("6509.59")
    assert all(p.amount.is_zero() for p in cut.periods if p.start >= upgrade)
    memo = CreditMemo(credit_memo_id="cm_up", customer_id="c1", invoice_id="in_1",
                      legal_entity="US01", currency="USD", issued_on=upgrade,
                      reason="upgrade", lines=[CreditMemoLine(
                          line_id="cm_up-1", description="unused Pro", amount=usd("6509.59"),
                          tax_amount=usd("0.00"), schedule_id=old.schedule_id)])
    credit = posting.credit_memo_entry(memo, US, deferred_release=cut.released)
    assert amounts(credit) == {("2400", Side.DEBIT): Decimal("6509.59"),
                               ("1200", Side.CREDIT): Decimal("6509.59")}

    # rebill: 24000 * 198/365 = 13,019.18 over [1 July 2026, 15 January 2027)
    rebill = annual_invoice("in_2", "13019.18", upgrade, end, LineKind.PRORATION)
    assert amounts(posting.invoice_entry(rebill, US)) == {
        ("1200", Side.DEBIT): Decimal("13019.18"), ("2400", Side.CREDIT): Decimal("13019.18")}
    new = schedules_for_invoice(rebill)[0]
    # July: 13019.18 * 31/198 = 2038.356 -> 2038.36; January 2027 (14 days) the remainder
    assert [(p.period, str(p.amount.amount)) for p in new.periods] == [
        ("2026-07", "2038.36"), ("2026-08", "2038.36"), ("2026-09", "1972.60"),
        ("2026-10", "2038.36"), ("2026-11", "1972.60"), ("2026-12", "2038.36"),
        ("2027-01", "920.54")]


def test_cancellation_mid_period_keeps_the_share_by_days_and_releases_the_rest() -> None:
    sched = schedules_for_invoice(annual_invoice(
        "in_3", "12000.00", dt.date(2026, 1, 15), dt.date(2027, 1, 15)))[0]
    cut = end_schedule(sched, dt.date(2026, 3, 16))
    by = {p.period: p.amount for p in cut.periods}
    # March (1019.18 for 31 days) keeps 15 days: 1019.18 * 15/31 = 493.151 -> 493.15
    assert (by["2026-01"], by["2026-02"], by["2026-03"]) == (
        usd("558.90"), usd("920.55"), usd("493.15"))
    assert cut.released == usd("12000.00") - usd("558.90") - usd("920.55") - usd("493.15")


def test_cancellation_before_the_term_releases_everything() -> None:
    sched = schedules_for_invoice(annual_invoice(
        "in_4", "12000.00", dt.date(2026, 1, 15), dt.date(2027, 1, 15)))[0]
    assert end_schedule(sched, dt.date(2026, 1, 15)).released == usd("12000.00")


def test_every_posting_rule_has_its_external_id() -> None:
    inv = invoice()
    assert posting.invoice_entry(inv, US).external_id == "inv:in_1"
    assert posting.credit_memo_entry(credit_memo("1.00", "0.00"), US).external_id == "cm:cm_1"
    refund = Refund(refund_id="r1", payment_id="p1", customer_id="c1", legal_entity="US01",
                    amount=usd("10.00"), refunded_on=dt.date(2026, 2, 1))
    entry = posting.refund_entry(refund, US)
    assert entry.external_id == "ref:r1"
    assert amounts(entry) == {("1200", Side.DEBIT): Decimal("10.00"),
                              ("1010", Side.CREDIT): Decimal("10.00")}
    rec = posting.recognition_entry("in_1:l1", "2026-01", usd("101.92"), "US01", "c1",
                                    dt.date(2026, 1, 31), US)
    assert rec.external_id == "rev:in_1:l1:2026-01"
    assert amounts(rec) == {("2400", Side.DEBIT): Decimal("101.92"),
                            ("4000", Side.CREDIT): Decimal("101.92")}
    wo = posting.write_off_entry("in_1", usd("50.00"), "US01", "c1", dt.date(2026, 5, 1), US)
    assert wo.external_id == "wo:in_1"
    assert amounts(wo) == {("6200", Side.DEBIT): Decimal("50.00"),
                           ("1200", Side.CREDIT): Decimal("50.00")}


def test_posting_rules_follow_each_entitys_chart() -> None:
    inv = invoice().model_copy(update={"legal_entity": "DE01"})
    accounts = {ln.account for ln in posting.invoice_entry(inv, CHARTS["DE01"],
                                                           rate=Decimal("0.9")).lines}
    assert accounts == {"1400", "3900", "8410", "3806"}


def test_tiny_amount_over_many_periods_never_makes_a_negative_period() -> None:
    # 0.11 over seven full months: each rounds up to 0.02 (0.0157), six of them exceed
    # the whole; the excess is taken back from the latest periods
    periods = spread(usd("0.11"), dt.date(2026, 1, 1), dt.date(2026, 8, 1),
                     RecognitionMethod.EQUAL_MONTHS)
    assert all(p.amount.amount >= 0 for p in periods)
    assert sum(p.amount.amount for p in periods) == Decimal("0.11")
