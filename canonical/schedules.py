"""Building revenue schedules from invoice lines (see docs/accounting.md for the methods)."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from .billing import Invoice, InvoiceLine, LineKind
from .catalog import RecognitionMethod
from .money import Money, round_amount
from .revenue import RevenuePeriod, RevenueSchedule


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def month_slices(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end) cut at calendar month boundaries."""
    slices = []
    cursor = start
    while cursor < end:
        stop = min(_next_month(cursor), end)
        slices.append((cursor, stop))
        cursor = stop
    return slices


def _days_in_month(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _weights(slices: list[tuple[dt.date, dt.date]], method: RecognitionMethod) -> list[Decimal]:
    if method == RecognitionMethod.EXACT_DAYS:
        return [Decimal((b - a).days) for a, b in slices]
    # Equal months: a full month weighs 1, a partial month its share of that month's days.
    return [Decimal((b - a).days) / Decimal(_days_in_month(a)) for a, b in slices]


def spread(amount: Money, start: dt.date, end: dt.date,
           method: RecognitionMethod) -> list[RevenuePeriod]:
    """Spread `amount` over [start, end) in monthly periods.

    Every period but the last is rounded to the minor unit; the last takes the
    remainder, so the periods sum exactly to `amount`.
    """
    slices = month_slices(start, end)
    if not slices:
        raise ValueError("service period is empty")
    weights = _weights(slices, method)
    whole = sum(weights, Decimal(0))
    amounts = [round_amount(amount.amount * w / whole, amount.currency) for w in weights[:-1]]
    amounts.append(amount.amount - sum(amounts, Decimal(0)))
    return [
        RevenuePeriod(period=period_of(a), start=a, end=b,
                      amount=Money(amount=x, currency=amount.currency))
        for (a, b), x in zip(slices, amounts, strict=True)
    ]


def schedule_id_for(invoice_id: str, line_id: str) -> str:
    return f"{invoice_id}:{line_id}"


def schedule_for_line(invoice: Invoice, line: InvoiceLine,
                      method: RecognitionMethod = RecognitionMethod.EXACT_DAYS
                      ) -> RevenueSchedule | None:
    """The ratable schedule of a recurring or proration line; None for usage lines."""
    if line.kind == LineKind.USAGE or line.amount.is_zero():
        return None
    assert line.period_start is not None and line.period_end is not None
    return RevenueSchedule(
        schedule_id=schedule_id_for(invoice.invoice_id, line.line_id),
        legal_entity=invoice.legal_entity, customer_id=invoice.customer_id,
        subscription_id=invoice.subscription_id, invoice_id=invoice.invoice_id,
        line_id=line.line_id, method=method, service_start=line.period_start,
        service_end=line.period_end, total=line.amount,
        periods=spread(line.amount, line.period_start, line.period_end, method),
    )


def schedules_for_invoice(invoice: Invoice,
                          methods: dict[str, RecognitionMethod] | None = None
                          ) -> list[RevenueSchedule]:
    """Schedules for every deferred line; `methods` maps plan codes to their method."""
    methods = methods or {}
    result = []
    for line in invoice.lines:
        method = methods.get(line.plan_code or "", RecognitionMethod.EXACT_DAYS)
        schedule = schedule_for_line(invoice, line, method)
        if schedule is not None:
            result.append(schedule)
    return result
