"""Building revenue schedules from invoice lines (see docs/accounting.md for the methods)."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from .base import Canonical
from .billing import Invoice, InvoiceLine, LineKind
from .catalog import RecognitionMethod
from .fx import convert
from .money import Money, round_amount, total
from .revenue import RevenuePeriod, RevenueSchedule


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_open_day(day: dt.date, locked: set[str]) -> tuple[dt.date, str | None]:
    """Where a posting dated `day` goes when periods (YYYY-MM) are locked: itself, or the
    first day of the first open period after it, with that period."""
    period = period_of(day)
    if period not in locked:
        return day, None
    while period in locked:
        period = period_of(_next_month(dt.date.fromisoformat(f"{period}-01")))
    return dt.date.fromisoformat(f"{period}-01"), period


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
    amounts = _with_remainder(
        [round_amount(amount.amount * w / whole, amount.currency) for w in weights[:-1]],
        amount.amount)
    return [
        RevenuePeriod(period=period_of(a), start=a, end=b,
                      amount=Money(amount=x, currency=amount.currency))
        for (a, b), x in zip(slices, amounts, strict=True)
    ]


def _with_remainder(rounded: list[Decimal], whole: Decimal) -> list[Decimal]:
    """`rounded` plus a last part so the parts sum exactly to `whole`.

    Only when `whole` is tiny against the number of periods (each rounded part up by
    less than half a minor unit) could the last part go negative; then the excess is
    taken back from the latest periods instead, so no period is ever negative.
    """
    parts = [*rounded, whole - sum(rounded, Decimal(0))]
    sign = 1 if whole >= 0 else -1
    i = len(parts) - 1
    while sign * parts[-1] < 0 and i > 0:
        i -= 1
        take = min(sign * parts[i], -sign * parts[-1])
        parts[i] -= sign * take
        parts[-1] += sign * take
    return parts


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
                          methods: dict[str, RecognitionMethod] | None = None,
                          functional_currency: str | None = None,
                          rate: Decimal | None = None) -> list[RevenueSchedule]:
    """Schedules for every deferred line; `methods` maps plan codes to their method.

    With a `functional_currency` other than the invoice's, each schedule carries its
    functional amounts at the booking `rate` (see `with_functional`).
    """
    methods = methods or {}
    result = []
    for line in invoice.lines:
        method = methods.get(line.plan_code or "", RecognitionMethod.EXACT_DAYS)
        schedule = schedule_for_line(invoice, line, method)
        if schedule is None:
            continue
        if functional_currency and functional_currency != invoice.currency:
            if rate is None:
                raise ValueError(f"{invoice.invoice_id}: a foreign-currency schedule "
                                 "needs the booking rate")
            schedule = with_functional(schedule, functional_currency, rate)
        result.append(schedule)
    return result


def with_functional(schedule: RevenueSchedule, functional_currency: str,
                    rate: Decimal) -> RevenueSchedule:
    """A foreign-currency schedule with its functional amounts at the booking `rate`.

    The functional total is the line converted at the rate (what the invoice credited
    to deferred revenue); each period is converted at the same rate and the last one
    takes the remainder, so the functional periods sum exactly to the functional total.
    """
    if schedule.total.currency == functional_currency:
        return schedule
    functional_total = convert(schedule.total, rate, functional_currency)
    amounts = _with_remainder(
        [convert(p.amount, rate, functional_currency).amount for p in schedule.periods[:-1]],
        functional_total.amount)
    periods = [p.model_copy(update={"functional_amount": Money(amount=f,
                                                               currency=functional_currency)})
               for p, f in zip(schedule.periods, amounts, strict=True)]
    return RevenueSchedule.model_validate({
        **schedule.model_dump(), "periods": [p.model_dump() for p in periods],
        "functional_currency": functional_currency, "rate": rate,
        "functional_total": functional_total.model_dump()})


def kept_share(amount: Money, start: dt.date, end: dt.date, end_on: dt.date) -> Money:
    """What a period [start, end) keeps when its schedule ends on `end_on`.

    Before `end_on` it keeps everything, from `end_on` on nothing; a period cut by
    `end_on` keeps its share by days (under both methods a period's amount is
    proportional to its days, see `spread`), rounded to the minor unit.
    """
    if end <= end_on:
        return amount
    if start >= end_on:
        return Money.zero(amount.currency)
    return amount.times(Decimal((end_on - start).days) / Decimal((end - start).days))


class ScheduleCut(Canonical):
    """The periods of a schedule ended early, and the unrecognised revenue it released."""

    periods: list[RevenuePeriod]  # with the amounts they keep (zero after end_on)
    released: Money
    released_functional: Money | None = None


def end_schedule(schedule: RevenueSchedule, end_on: dt.date,
                 recognised: frozenset[str] = frozenset()) -> ScheduleCut:
    """End a schedule on `end_on` (amendment, cancellation); `end_on` itself is not served.

    Periods already recognised (`recognised`, by period) are left alone: their revenue
    is booked. Every other period keeps `kept_share`; the released amount is what the
    credit memo debits to deferred revenue, in both currencies.
    """
    cur = schedule.total.currency
    fcur = schedule.functional_currency
    released = Money.zero(cur)
    released_f = Money.zero(fcur) if fcur else None
    periods = []
    for p in schedule.periods:
        if p.period in recognised:
            periods.append(p)
            continue
        kept = kept_share(p.amount, p.start, p.end, end_on)
        update: dict[str, Money] = {"amount": kept}
        released = released + (p.amount - kept)
        if p.functional_amount is not None and released_f is not None:
            kept_f = kept_share(p.functional_amount, p.start, p.end, end_on)
            update["functional_amount"] = kept_f
            released_f = released_f + (p.functional_amount - kept_f)
        periods.append(p.model_copy(update=update))
    return ScheduleCut(periods=periods, released=released, released_functional=released_f)


def unrecognised(schedule_periods: list[RevenuePeriod], recognised: frozenset[str],
                 currency: str) -> Money:
    """Sum of the periods not recognised yet: what deferred revenue must hold for them."""
    return total((p.amount for p in schedule_periods if p.period not in recognised), currency)
