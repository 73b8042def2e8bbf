"""Proration (canonical.proration) and renewal terms (canonical.renewal): pure rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from canonical.billing import Invoice, InvoiceLine, LineKind, TaxLine, TaxResult
from canonical.catalog import BillingPeriod, Plan
from canonical.errors import InvalidDataError
from canonical.money import Money
from canonical.proration import prorate_amendment, service_lines, unused_credit, unused_share
from canonical.renewal import add_months, next_term, renewal_invoice, terms_from_changes
from canonical.subscription import Amendment, ProrationBasis, Subscription, SubscriptionItem

JAN_1, NEXT_JAN_1 = dt.date(2026, 1, 1), dt.date(2027, 1, 1)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def plan(code: str, price: str, period: BillingPeriod = BillingPeriod.YEAR) -> Plan:
    return Plan(plan_code=code, sku=code.upper(), name=code, price=usd(price),
                billing_period=period)


def subscription(price: str = "1200.00") -> Subscription:
    return Subscription(subscription_id="sub", customer_id="cus", legal_entity="US01",
                        currency="USD", term_start=JAN_1, term_end=NEXT_JAN_1,
                        items=[SubscriptionItem(item_id="i1", plan=plan("pro", price),
                                                quantity=1)])


def invoice(amount: str = "1200.00", rate: str = "0.0725") -> Invoice:
    line = InvoiceLine(line_id="l1", kind=LineKind.RECURRING, description="Pro",
                       plan_code="pro", amount=usd(amount), period_start=JAN_1,
                       period_end=NEXT_JAN_1)
    tax = Money.of(Decimal(amount) * Decimal(rate), "USD")
    return Invoice(invoice_id="in1", customer_id="cus", subscription_id="sub",
                   legal_entity="US01", currency="USD", issued_on=JAN_1,
                   due_on=dt.date(2026, 1, 31), lines=[line],
                   tax=TaxResult(provider="t", calculation_id="c", total=tax,
                                 lines=[TaxLine(line_id="l1", jurisdiction="US-CA",
                                                rate=Decimal(rate), taxable=usd(amount),
                                                amount=tax)],
                                 calculated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))


def amendment(at: dt.datetime, price: str = "2400.00", quantity: int = 1,
              basis: ProrationBasis = ProrationBasis.EXACT_TIME) -> Amendment:
    return Amendment(amendment_id="am1", subscription_id="sub", effective_at=at,
                     new_items=[SubscriptionItem(item_id="i1", plan=plan("ent", price),
                                                 quantity=quantity)],
                     credit_memo_id="cm1", invoice_id="in2", proration_basis=basis)


def test_exact_time_counts_seconds_and_days_count_whole_days() -> None:
    noon = dt.datetime(2026, 7, 2, 12, tzinfo=dt.UTC)
    assert unused_share(JAN_1, NEXT_JAN_1, noon) == Decimal(182 * 86400 + 43200) / (365 * 86400)
    assert unused_share(JAN_1, NEXT_JAN_1, noon, ProrationBasis.DAYS) == Decimal(183) / 365


def test_share_is_clamped_to_the_period() -> None:
    before = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    after = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
    assert unused_share(JAN_1, NEXT_JAN_1, before) == 1
    assert unused_share(JAN_1, NEXT_JAN_1, after) == 0


def test_service_lines_carry_the_tax_rate_and_schedule() -> None:
    [line] = service_lines(invoice())
    assert (line.tax_rate, line.schedule_id, line.billing_start) == (Decimal("0.0725"),
                                                                     "in1:l1", JAN_1)


def test_upgrade_credits_unused_old_and_rebills_new_for_the_rest_of_the_period() -> None:
    at = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)  # 183 of 365 days left
    result = prorate_amendment(amendment(at), subscription(), service_lines(invoice()))
    assert result.credit is not None and result.credit.credit_memo is not None
    memo = result.credit.credit_memo
    assert memo.subtotal == usd("601.64")
    assert memo.tax_total == usd("43.62")  # at the original invoice's 7.25 %
    assert result.credit.by_invoice == {"in1": usd("645.26")}
    assert [ln.ended_on for ln in result.credit.ended_lines] == [at.date()]
    assert result.rebill is not None
    assert result.rebill.subtotal == usd("1203.29")
    assert [(ln.period_start, ln.period_end) for ln in result.rebill.lines] == [
        (at.date(), NEXT_JAN_1)]
    assert result.rebill_lines[0].billing_start == JAN_1


def test_quantity_change_rebills_the_new_quantity() -> None:
    at = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
    result = prorate_amendment(amendment(at, "1200.00", quantity=3), subscription(),
                               service_lines(invoice()))
    assert result.rebill is not None and result.rebill.subtotal == usd("1804.93")


def test_second_amendment_credits_the_first_rebill() -> None:
    first_at = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
    first = prorate_amendment(amendment(first_at), subscription(), service_lines(invoice()))
    assert first.credit is not None
    lines = first.credit.ended_lines + first.rebill_lines
    second = amendment(dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "3600.00").model_copy(
        update={"amendment_id": "am2", "credit_memo_id": "cm2", "invoice_id": "in3"})
    result = prorate_amendment(second, subscription(), lines)
    assert result.credit is not None and result.credit.credit_memo is not None
    assert result.credit.credit_memo.invoice_id == "in2"
    assert result.credit.credit_memo.subtotal == usd("604.93")  # 2400 * 92/365
    assert result.rebill is not None and result.rebill.subtotal == usd("907.40")


def test_amendment_outside_invoiced_service_is_invalid_data() -> None:
    at = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
    with pytest.raises(InvalidDataError):
        prorate_amendment(amendment(at), subscription(), service_lines(invoice()))


def test_changing_the_billing_period_length_is_invalid_data() -> None:
    at = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
    monthly = amendment(at).model_copy(update={"new_items": [SubscriptionItem(
        item_id="i1", plan=plan("m", "100.00", BillingPeriod.MONTH), quantity=1)]})
    with pytest.raises(InvalidDataError):
        prorate_amendment(monthly, subscription(), service_lines(invoice()))


def test_cancellation_credit_on_the_first_day_is_the_whole_line() -> None:
    credit = unused_credit(service_lines(invoice()), dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                           ProrationBasis.DAYS, credit_memo_id="c", customer_id="cus",
                           subscription_id="sub", legal_entity="US01", currency="USD",
                           reason="r")
    assert credit is not None and credit.credit_memo is not None
    assert credit.credit_memo.total == usd("1287.00")


def test_next_term_keeps_the_length_and_month_ends_clamp() -> None:
    assert next_term(subscription()).term_end == dt.date(2028, 1, 1)
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)


def test_renewal_invoice_bills_the_first_period_of_each_item() -> None:
    term = next_term(subscription())
    inv = renewal_invoice(term, "sub-r1")
    assert (inv.invoice_id, inv.issued_on, inv.billing_reason) == ("sub-r1", NEXT_JAN_1,
                                                                   "renewal")
    assert [(ln.period_start, ln.period_end, ln.amount) for ln in inv.lines] == [
        (NEXT_JAN_1, dt.date(2028, 1, 1), usd("1200.00"))]


def test_crm_plan_changes_replace_plan_or_quantity() -> None:
    items = subscription().items
    changed = terms_from_changes({"quantity": 4}, items)
    assert changed is not None and changed[0].quantity == 4
    new_plan = plan("ent", "2400.00").model_dump(mode="json")
    changed = terms_from_changes({"plan": new_plan}, items)
    assert changed is not None and changed[0].plan.plan_code == "ent"
    assert terms_from_changes(None, items) is None
    with pytest.raises(InvalidDataError):
        terms_from_changes({"plan_code": "x"}, items)
