"""Proration of mid-term changes: the unused part of what was invoiced, and the rebill.

Basis (docs/workflows.md "Proration"): by default exact time, in seconds, as the major
billing platforms do: a line's service period runs from 00:00 UTC of its start date to
00:00 UTC of its (exclusive) end date, and the unused share is
``(period end - effective_at) / (period end - period start)``. `ProrationBasis.DAYS`
counts whole days from the effective date instead. Amounts round to the currency's
minor unit (half away from zero); credit tax is the credited net at the original
invoice line's tax rate.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .base import Canonical
from .billing import (
    BillingReason,
    CreditMemo,
    CreditMemoLine,
    Invoice,
    InvoiceLine,
    LineKind,
)
from .errors import InvalidDataError
from .money import Money, round_amount
from .schedules import schedule_id_for
from .subscription import Amendment, ProrationBasis, Subscription, SubscriptionItem

PAYMENT_TERMS = dt.timedelta(days=30)


class ServiceLine(Canonical):
    """The part of a posted invoice line that buys service over a period (not usage).

    `billing_start` is the start of the whole billing period the line belongs to: the
    line's own start, except for a rebill, which covers the rest of a period.
    """

    invoice_id: str
    line_id: str
    plan_code: str | None = None
    sku: str | None = None
    quantity: Decimal = Decimal(1)
    amount: Money  # net, as invoiced
    period_start: dt.date
    period_end: dt.date  # exclusive
    billing_start: dt.date
    tax_rate: Decimal = Decimal(0)
    schedule_id: str | None = None
    ended_on: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return self.ended_on is None and self.period_start <= day < self.period_end


def service_lines(invoice: Invoice) -> list[ServiceLine]:
    """The service lines of a posted invoice (with its tax result, if any)."""
    rates = {t.line_id: t.rate for t in invoice.tax.lines} if invoice.tax else {}
    result = []
    for line in invoice.lines:
        if line.kind == LineKind.USAGE or line.period_start is None or line.period_end is None:
            continue
        result.append(ServiceLine(
            invoice_id=invoice.invoice_id, line_id=line.line_id, plan_code=line.plan_code,
            sku=line.sku, quantity=line.quantity, amount=line.amount,
            period_start=line.period_start, period_end=line.period_end,
            billing_start=line.period_start, tax_rate=rates.get(line.line_id, Decimal(0)),
            schedule_id=(None if line.amount.is_zero()
                         else schedule_id_for(invoice.invoice_id, line.line_id))))
    return result


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), dt.UTC)


def unused_share(start: dt.date, end: dt.date, at: dt.datetime,
                 basis: ProrationBasis = ProrationBasis.EXACT_TIME) -> Decimal:
    """The share of [start, end) that lies after `at`, between 0 and 1."""
    if basis == ProrationBasis.DAYS:
        day = at.astimezone(dt.UTC).date()
        share = Decimal((end - day).days) / Decimal((end - start).days)
    else:
        whole = Decimal(int((_midnight(end) - _midnight(start)).total_seconds()))
        left = _midnight(end) - at.astimezone(dt.UTC)
        share = Decimal(int(left.total_seconds())) / whole
    return min(max(share, Decimal(0)), Decimal(1))


class Credit(Canonical):
    """The unused part of service lines, credited on one memo."""

    credit_memo: CreditMemo | None  # None when every unused share rounds to zero
    # Gross credit per credited invoice (what each invoice's open amount goes down by).
    by_invoice: dict[str, Money]
    ended_lines: list[ServiceLine]  # the credited lines, with `ended_on` set


def unused_credit(lines: list[ServiceLine], at: dt.datetime, basis: ProrationBasis, *,
                  credit_memo_id: str, customer_id: str, subscription_id: str,
                  legal_entity: str, currency: str, reason: str) -> Credit | None:
    """Credit the unused part of every line that covers `at`; None when none does."""
    day = at.astimezone(dt.UTC).date()
    current = [ln for ln in lines if ln.covers(day)]
    memo_lines: list[CreditMemoLine] = []
    by_invoice: dict[str, Money] = {}
    for ln in current:
        net = ln.amount.times(unused_share(ln.period_start, ln.period_end, at, basis))
        if net.is_zero():
            continue
        tax = Money.of(round_amount(net.amount * ln.tax_rate, currency), currency)
        memo_lines.append(CreditMemoLine(
            line_id=f"{credit_memo_id}-{len(memo_lines) + 1}",
            description=f"Unused {ln.plan_code or ln.line_id} {day}..{ln.period_end}",
            amount=net, tax_amount=tax, period_start=day, period_end=ln.period_end,
            schedule_id=ln.schedule_id, invoice_id=ln.invoice_id))
        by_invoice[ln.invoice_id] = by_invoice.get(ln.invoice_id, Money.zero(currency)) + net + tax
    if not current:
        return None
    ended = [ln.model_copy(update={"ended_on": day}) for ln in current]
    if not memo_lines:
        return Credit(credit_memo=None, by_invoice={}, ended_lines=ended)
    memo = CreditMemo(
        credit_memo_id=credit_memo_id, customer_id=customer_id, subscription_id=subscription_id,
        invoice_id=current[0].invoice_id, legal_entity=legal_entity, currency=currency,
        issued_on=day, reason=reason, lines=memo_lines)
    return Credit(credit_memo=memo, by_invoice=by_invoice, ended_lines=ended)


class AmendmentProration(Canonical):
    """What an amendment bills: the credit for the old items and the rebill of the new."""

    credit: Credit | None
    rebill: Invoice | None  # net lines; the tax engine adds the tax
    rebill_lines: list[ServiceLine]  # the rebill's service lines (tax rate unknown yet)


def _billing_period(current: list[ServiceLine]) -> tuple[dt.date, dt.date]:
    return min(ln.billing_start for ln in current), max(ln.period_end for ln in current)


def _check_periods(items: list[SubscriptionItem], start: dt.date, end: dt.date) -> None:
    for item in items:
        length = _months(start, end)
        if length is not None and length != item.plan.billing_period.months:
            raise InvalidDataError(
                f"plan {item.plan.plan_code} is billed per {item.plan.billing_period}, the "
                f"current billing period {start}..{end} is not; a billing period change "
                "needs a new term", system="proration")


def _months(start: dt.date, end: dt.date) -> int | None:
    """Whole months between two same-day-of-month dates, else None (not checkable)."""
    if start.day != end.day:
        return None
    return (end.year - start.year) * 12 + end.month - start.month


def prorate_amendment(amendment: Amendment, subscription: Subscription,
                      lines: list[ServiceLine]) -> AmendmentProration:
    """Credit-and-rebill of an amendment against the service lines the entity holds.

    Raises:
        InvalidDataError: no invoiced service covers the effective date, or the new
            items change the billing period length.
    """
    at, basis, sub = amendment.effective_at, amendment.proration_basis, subscription
    day = at.astimezone(dt.UTC).date()
    current = [ln for ln in lines if ln.covers(day)]
    if not current:
        raise InvalidDataError(f"amendment {amendment.amendment_id}: no invoiced service "
                               f"covers {day}", system="proration")
    period_start, period_end = _billing_period(current)
    _check_periods(amendment.new_items, period_start, period_end)
    credit = unused_credit(
        lines, at, basis, credit_memo_id=amendment.credit_memo_id, customer_id=sub.customer_id,
        subscription_id=sub.subscription_id, legal_entity=sub.legal_entity,
        currency=sub.currency, reason=f"amendment {amendment.amendment_id}")
    share = unused_share(period_start, period_end, at, basis)
    invoice_id = amendment.invoice_id
    rebill_lines: list[InvoiceLine] = []
    for item in amendment.new_items:
        amount = item.plan.price.times(share * item.quantity)
        if amount.is_zero():
            continue
        rebill_lines.append(InvoiceLine(
            line_id=f"{invoice_id}-{len(rebill_lines) + 1}", kind=LineKind.PRORATION,
            description=f"{item.plan.name} {day}..{period_end}", sku=item.plan.sku,
            plan_code=item.plan.plan_code, quantity=Decimal(item.quantity), amount=amount,
            period_start=day, period_end=period_end, tax_code=item.plan.tax_code))
    if not rebill_lines:
        return AmendmentProration(credit=credit, rebill=None, rebill_lines=[])
    rebill = Invoice(invoice_id=invoice_id, customer_id=sub.customer_id,
                     subscription_id=sub.subscription_id, legal_entity=sub.legal_entity,
                     currency=sub.currency, issued_on=day, due_on=day + PAYMENT_TERMS,
                     lines=rebill_lines, billing_reason=BillingReason.SUBSCRIPTION_UPDATE)
    new_lines = [ln.model_copy(update={"billing_start": period_start})
                 for ln in service_lines(rebill)]
    return AmendmentProration(credit=credit, rebill=rebill, rebill_lines=new_lines)

