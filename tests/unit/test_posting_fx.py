"""Multi-currency posting with hand-checked figures: JPY (0 decimals), KWD (3), EUR for USD."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from canonical import posting
from canonical.billing import Invoice, InvoiceLine, LineKind, TaxLine, TaxResult
from canonical.catalog import RecognitionMethod
from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, Side
from canonical.money import Money
from canonical.payment import Payment, Refund
from canonical.schedules import schedules_for_invoice
from settings import load_entities

CHARTS = {code: e.chart for code, e in load_entities(Path("config/entities.toml")).items()}


def m(amount: str, cur: str) -> Money:
    return Money(amount=Decimal(amount), currency=cur)


def rows(entry: JournalEntry) -> list[tuple[str, Side, str, str | None]]:
    return [(ln.account, ln.side, str(ln.amount.amount),
             str(ln.functional_amount.amount) if ln.functional_amount else None)
            for ln in entry.lines]


def annual(cur: str, amount: str, entity: str, tax: str | None = None,
           usage: str | None = None, start: dt.date = dt.date(2026, 1, 15),
           plan: str = "pro-annual") -> Invoice:
    end = start.replace(year=start.year + 1)
    lines = [InvoiceLine(line_id="l1", kind=LineKind.RECURRING, description="Pro",
                         plan_code=plan, amount=m(amount, cur), period_start=start,
                         period_end=end)]
    if usage:
        lines.append(InvoiceLine(line_id="u1", kind=LineKind.USAGE, description="Overage",
                                 amount=m(usage, cur)))
    tax_result = None if tax is None else TaxResult(
        provider="t", calculation_id="c", calculated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        lines=[TaxLine(line_id="l1", jurisdiction="X", rate=Decimal("0.10"),
                       taxable=m(amount, cur), amount=m(tax, cur))], total=m(tax, cur))
    return Invoice(invoice_id=f"in_{cur.lower()}", customer_id="c1", legal_entity=entity,
                   currency=cur, issued_on=start, due_on=start + dt.timedelta(days=30),
                   lines=lines, tax=tax_result)


def test_jpy_invoice_and_schedule_have_whole_yen() -> None:
    inv = annual("JPY", "150000", "JP01", tax="15000")
    entry = posting.invoice_entry(inv, CHARTS["JP01"])
    assert rows(entry) == [("1130", Side.DEBIT, "165000", None),
                           ("2150", Side.CREDIT, "150000", None),
                           ("2160", Side.CREDIT, "15000", None)]
    periods = schedules_for_invoice(inv)[0].periods
    # 150000 * 17/365 = 6986.30 -> 6986; 150000 * 28/365 = 11506.85 -> 11507
    assert [p.amount.amount for p in periods[:2]] == [Decimal(6986), Decimal(11507)]
    assert periods[-1].amount.amount == Decimal(5751)  # the remainder, 14 days
    assert sum(p.amount.amount for p in periods) == Decimal(150000)


def test_kwd_invoice_and_equal_months_schedule_have_three_decimals() -> None:
    inv = annual("KWD", "1234.567", "KW01", plan="enterprise-annual")
    entry = posting.invoice_entry(inv, CHARTS["KW01"])
    assert rows(entry) == [("1210", Side.DEBIT, "1234.567", None),
                           ("2410", Side.CREDIT, "1234.567", None)]
    periods = schedules_for_invoice(
        inv, {"enterprise-annual": RecognitionMethod.EQUAL_MONTHS})[0].periods
    # 1234.567 / 12 = 102.880583 -> 102.881 a month; January 2026 earns 17/31 of a month
    assert periods[0].amount == m("56.418", "KWD")
    assert {p.amount for p in periods[1:-1]} == {m("102.881", "KWD")}
    assert periods[-1].amount == m("46.458", "KWD")  # 1234.567 - 56.418 - 11 * 102.881


def eur_invoice() -> Invoice:
    return annual("EUR", "1000.05", "US01", usage="10.05", start=dt.date(2026, 1, 1))


def test_eur_invoice_for_usd_entity_books_both_amounts_and_a_rounding_line() -> None:
    entry = posting.invoice_entry(eur_invoice(), CHARTS["US01"], rate=Decimal("1.1"))
    # 1010.10 * 1.1 = 1111.11; 1000.05 * 1.1 = 1100.055 -> 1100.06; 10.05 * 1.1 = 11.055
    # -> 11.06: credits exceed the debit by 0.01, which an explicit FX line absorbs
    assert rows(entry) == [("1200", Side.DEBIT, "1010.10", "1111.11"),
                           ("2400", Side.CREDIT, "1000.05", "1100.06"),
                           ("4100", Side.CREDIT, "10.05", "11.06"),
                           ("7900", Side.DEBIT, "0.00", "0.01")]
    assert (entry.functional_currency, entry.rate) == ("USD", Decimal("1.1"))


def test_foreign_schedule_functional_periods_sum_to_the_deferred_credit() -> None:
    schedule = schedules_for_invoice(eur_invoice(), functional_currency="USD",
                                     rate=Decimal("1.1"))[0]
    assert schedule.functional_total == m("1100.06", "USD")
    # January: 1000.05 * 31/365 = 84.94 EUR -> * 1.1 = 93.434 -> 93.43 USD
    assert schedule.periods[0].functional_amount == m("93.43", "USD")
    functional = [p.functional_amount for p in schedule.periods]
    assert all(f is not None for f in functional)
    assert sum(f.amount for f in functional if f is not None) == Decimal("1100.06")


def test_eur_payment_at_a_higher_rate_books_a_realised_fx_gain() -> None:
    pay = Payment(payment_id="p1", invoice_id="in_eur", customer_id="c1", legal_entity="US01",
                  amount=m("1010.10", "EUR"), fee=m("30.30", "EUR"),
                  received_on=dt.date(2026, 2, 1))
    entry = posting.payment_entry(pay, CHARTS["US01"], rate=Decimal("1.12"),
                                  invoice_rate=Decimal("1.1"))
    # cash 1010.10 * 1.12 = 1131.312 -> 1131.31; AR relieved at 1.1: 1111.11; gain 20.20
    # fee 30.30 * 1.12 = 33.936 -> 33.94 on both sides
    assert rows(entry) == [("1010", Side.DEBIT, "1010.10", "1131.31"),
                           ("1200", Side.CREDIT, "1010.10", "1111.11"),
                           ("6100", Side.DEBIT, "30.30", "33.94"),
                           ("1010", Side.CREDIT, "30.30", "33.94"),
                           ("7900", Side.CREDIT, "0.00", "20.20")]
    assert entry.rate == Decimal("1.12")
    assert entry.lines[-1].memo == "realised FX difference"


def test_eur_payment_at_a_lower_rate_books_a_realised_fx_loss() -> None:
    pay = Payment(payment_id="p2", invoice_id="in_eur", customer_id="c1", legal_entity="US01",
                  amount=m("1010.10", "EUR"), received_on=dt.date(2026, 2, 1))
    entry = posting.payment_entry(pay, CHARTS["US01"], rate=Decimal("1.05"),
                                  invoice_rate=Decimal("1.1"))
    # 1010.10 * 1.05 = 1060.605 -> 1060.61 against 1111.11 booked: a loss of 50.50
    assert rows(entry)[-1] == ("7900", Side.DEBIT, "0.00", "50.50")


def test_the_payment_settling_a_foreign_invoice_relieves_what_is_left_of_its_receivable(
        ) -> None:
    # EUR 1,000.00 booked at 1.1 = 1,100.00 USD of receivable; 300.05 credited
    # (330.055 -> 330.06), so 769.94 is left; the rest, 699.95, converted on its own
    # would relieve 769.945 -> 769.95 and leave -0.01 on a settled receivable
    pay = Payment(payment_id="p3", invoice_id="in_eur", customer_id="c1", legal_entity="US01",
                  amount=m("699.95", "EUR"), received_on=dt.date(2026, 2, 1))
    settles = [Decimal("1000.00"), Decimal("-300.05")]
    entry = posting.payment_entry(pay, CHARTS["US01"], rate=Decimal("1.12"),
                                  invoice_rate=Decimal("1.1"), settles=settles)
    # cash 699.95 * 1.12 = 783.944 -> 783.94; gain 783.94 - 769.94 = 14.00
    assert rows(entry) == [("1010", Side.DEBIT, "699.95", "783.94"),
                           ("1200", Side.CREDIT, "699.95", "769.94"),
                           ("7900", Side.CREDIT, "0.00", "14.00")]
    # movements the books do not hold (a 500.00 credit more) leave the payment's own
    # conversion: a wrong history never moves more than rounding
    wrong = posting.payment_entry(pay, CHARTS["US01"], rate=Decimal("1.12"),
                                  invoice_rate=Decimal("1.1"),
                                  settles=[*settles, Decimal("-500.00")])
    assert rows(wrong)[1] == ("1200", Side.CREDIT, "699.95", "769.95")


def test_eur_refund_reopens_the_receivable_at_the_booking_rate() -> None:
    refund = Refund(refund_id="r1", payment_id="p1", invoice_id="in_eur", customer_id="c1",
                    legal_entity="US01", amount=m("505.05", "EUR"),
                    refunded_on=dt.date(2026, 3, 1))
    entry = posting.refund_entry(refund, CHARTS["US01"], rate=Decimal("1.15"),
                                 invoice_rate=Decimal("1.1"))
    # cash 505.05 * 1.15 = 580.8075 -> 580.81 leaves; the receivable comes back as the
    # payment relieved it, at 1.1: 555.555 -> 555.56; the 25.25 more cash out is a loss
    assert rows(entry) == [("1200", Side.DEBIT, "505.05", "555.56"),
                           ("1010", Side.CREDIT, "505.05", "580.81"),
                           ("7900", Side.DEBIT, "0.00", "25.25")]
    assert entry.lines[-1].memo == "realised FX difference"
    # without the invoice's rate (a refund naming no invoice) both sides take the day's
    unlinked = posting.refund_entry(refund, CHARTS["US01"], rate=Decimal("1.15"))
    assert rows(unlinked) == [("1200", Side.DEBIT, "505.05", "580.81"),
                              ("1010", Side.CREDIT, "505.05", "580.81")]


def test_foreign_currency_entry_without_a_rate_is_refused() -> None:
    with pytest.raises(InvalidDataError):
        posting.invoice_entry(eur_invoice(), CHARTS["US01"])
