"""Booking inside one ERP transaction: journal entries and revenue schedule changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert
from sqlmodel import Session, col, select, update

from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from canonical.revenue import RevenueSchedule
from canonical.schedules import kept_share

from .common import SandboxError
from .erp_models import Document, Entry, Line, Period, Schedule

_INSERT_ENTRY = insert(Entry.__table__).returning(Entry.__table__.c.id)
_INSERT_LINES = insert(Line.__table__)
_INSERT_PERIODS = insert(Period.__table__)


def book_entry(s: Session, doc: Document, entry: JournalEntry,
               original_posting_date: dt.date | None = None) -> None:
    """Store a journal entry and its lines under a document.

    `original_posting_date`: the date it was posted with, when its period was locked and
    the entry is booked in a later open period instead.
    """
    assert doc.id is not None
    # Core statements: an ORM object and flush per entry, and an object per line, were
    # most of the cost of a posting (docs/performance.md).
    entry_pk = s.connection().execute(_INSERT_ENTRY, dict(
        document_pk=doc.id, document_id=doc.document_id, external_id=entry.external_id,
        legal_entity=entry.legal_entity, posting_date=entry.posting_date,
        currency=entry.currency, memo=entry.memo, source_type=entry.source_type,
        source_id=entry.source_id, functional_currency=entry.functional_currency,
        rate=entry.rate, correlation_id=entry.correlation_id,
        original_posting_date=original_posting_date,
    )).scalar_one()
    lines = [
        {"entry_pk": entry_pk, "line_no": no, "account": ln.account, "side": ln.side.value,
         "amount": ln.amount.amount, "currency": ln.amount.currency,
         "functional_amount": fn.amount if (fn := ln.functional_amount) else None,
         "functional_currency": fn.currency if fn else None,
         "customer_id": ln.customer_id, "memo": ln.memo}
        for no, ln in enumerate(entry.lines)]
    if lines:
        s.connection().execute(_INSERT_LINES, lines)


def entry_model(row: Entry, lines: list[Line]) -> JournalEntry:
    """The canonical journal entry of stored rows."""
    return JournalEntry(
        external_id=row.external_id, legal_entity=row.legal_entity,
        posting_date=row.posting_date, currency=row.currency, memo=row.memo,
        source_type=row.source_type, source_id=row.source_id,
        functional_currency=row.functional_currency, rate=row.rate,
        correlation_id=row.correlation_id,
        lines=[JournalLine(
            account=ln.account, side=Side(ln.side),
            amount=Money(amount=ln.amount, currency=ln.currency),
            functional_amount=(Money(amount=ln.functional_amount,
                                     currency=ln.functional_currency or "")
                               if ln.functional_amount is not None else None),
            customer_id=ln.customer_id, memo=ln.memo,
        ) for ln in sorted(lines, key=lambda x: x.line_no)],
    )


def load_entry(s: Session, doc: Document) -> JournalEntry | None:
    """The journal entry booked under a document, if it has one."""
    row = s.exec(select(Entry).where(Entry.document_pk == doc.id)).first()
    if row is None:
        return None
    lines = list(s.exec(select(Line).where(Line.entry_pk == row.id)).all())
    return entry_model(row, lines)


def reversing_entry(original: JournalEntry, external_id: str, reason: str,
                    reverses: str) -> JournalEntry:
    """The exact mirror of an entry: sides swapped, same amounts and posting date."""
    swap = {Side.DEBIT: Side.CREDIT, Side.CREDIT: Side.DEBIT}
    return original.model_copy(update={
        "external_id": external_id,
        "lines": [ln.model_copy(update={"side": swap[ln.side]}) for ln in original.lines],
        "memo": f"Reversal of {reverses}: {reason}".strip(),
        "source_type": "reversal", "source_id": reverses, "correlation_id": None,
    })


def open_schedule(s: Session, doc: Document, schedule: RevenueSchedule) -> None:
    """Store a schedule and its periods, none recognised yet."""
    assert doc.id is not None
    row = Schedule(
        document_pk=doc.id, schedule_id=schedule.schedule_id,
        legal_entity=schedule.legal_entity, customer_id=schedule.customer_id,
        subscription_id=schedule.subscription_id, invoice_id=schedule.invoice_id,
        line_id=schedule.line_id, method=schedule.method.value,
        service_start=schedule.service_start, service_end=schedule.service_end,
        currency=schedule.total.currency, total=schedule.total.amount,
        functional_currency=schedule.functional_currency, rate=schedule.rate,
        functional_total=(schedule.functional_total.amount
                          if schedule.functional_total else None),
    )
    s.add(row)
    s.flush()
    assert row.id is not None
    periods = [
        {"schedule_pk": row.id, "period": p.period, "period_start": p.start,
         "period_end": p.end, "amount": p.amount.amount, "original_amount": p.amount.amount,
         "functional_amount": fn, "original_functional_amount": fn}
        for p in schedule.periods
        for fn in [p.functional_amount.amount if p.functional_amount else None]]
    if periods:
        s.connection().execute(_INSERT_PERIODS, periods)


def find_schedule(s: Session, schedule_id: str) -> Schedule | None:
    """A schedule by its business id."""
    return s.exec(select(Schedule).where(Schedule.schedule_id == schedule_id)).first()


def _periods(s: Session, sched: Schedule) -> list[Period]:
    stmt = select(Period).where(Period.schedule_pk == sched.id).order_by(
        col(Period.period_start))
    return list(s.exec(stmt).all())


def end_schedule(s: Session, sched: Schedule, end_on: dt.date,
                 ended_by: str) -> tuple[str, Decimal, Decimal | None]:
    """Truncate at `end_on`: later periods cancelled, a cut period keeps its share by days.

    The rule is canonical.schedules.kept_share, in both currencies. Recognised periods
    are left alone (their revenue is booked). Returns a short note and the unrecognised
    amount released (transaction currency, and functional for a foreign schedule).
    """
    if sched.status != "active":
        raise SandboxError(409, f"schedule_{sched.status}",
                           f"schedule {sched.schedule_id} is already {sched.status}")
    cancelled = cut = 0
    released = Decimal(0)
    released_f = Decimal(0) if sched.functional_currency else None
    for p in _periods(s, sched):
        if p.status != "open":
            continue
        before = p.amount
        kept = kept_share(Money(amount=p.original_amount, currency=sched.currency),
                          p.period_start, p.period_end, end_on).amount
        if kept == p.original_amount:
            continue
        p.amount, p.ended_by = kept, ended_by
        if p.period_start >= end_on:
            p.status = "cancelled"
            cancelled += 1
        else:
            cut += 1
        released += before - p.amount
        if released_f is not None and p.original_functional_amount is not None:
            fcur = sched.functional_currency or ""
            before_f = p.functional_amount or Decimal(0)
            p.functional_amount = kept_share(
                Money(amount=p.original_functional_amount, currency=fcur),
                p.period_start, p.period_end, end_on).amount
            released_f += before_f - p.functional_amount
        s.add(p)
    sched.status, sched.ended_on = "ended", end_on
    s.add(sched)
    note = f"{cancelled} period(s) cancelled, {cut} cut at {end_on.isoformat()}"
    return note, released, released_f


def restore_schedule(s: Session, sched: Schedule, ended_by: str) -> None:
    """Undo one ScheduleEnd (its reversal): periods back to their original amounts."""
    for p in _periods(s, sched):
        if p.ended_by == ended_by:
            p.amount, p.ended_by = p.original_amount, None
            p.functional_amount = p.original_functional_amount
            if p.status == "cancelled":
                p.status = "open"
            s.add(p)
    sched.status, sched.ended_on = "active", None
    s.add(sched)


def cancel_schedule(s: Session, sched: Schedule, cancelled_by: str) -> None:
    """Reverse a schedule: every open period is cancelled."""
    for p in _periods(s, sched):
        if p.status == "open":
            p.amount, p.status, p.ended_by = Decimal(0), "cancelled", cancelled_by
            p.functional_amount = Decimal(0) if p.functional_amount is not None else None
            s.add(p)
    sched.status = "reversed"
    s.add(sched)


def link_recognition(s: Session, doc: Document, entry: JournalEntry) -> None:
    """Mark the schedule period a recognition journal recognises.

    The schedule may live in another ERP during a migration, so an unknown schedule
    is accepted without a link; a known schedule must have that period open.
    """
    schedule_id, _, period = entry.source_id.rpartition(":")
    sched = find_schedule(s, schedule_id)
    if sched is None:
        return
    row = s.exec(select(Period).where(Period.schedule_pk == sched.id,
                                      Period.period == period)).first()
    if row is None:
        raise SandboxError(409, "unknown_period",
                           f"schedule {schedule_id} has no period {period}")
    if row.status == "cancelled":
        raise SandboxError(409, "period_cancelled",
                           f"period {period} of schedule {schedule_id} is cancelled")
    amount = sum((ln.amount.amount for ln in entry.lines if ln.side == Side.DEBIT), Decimal(0))
    # Conditional update: of two concurrent recognitions of one period only one wins.
    won = s.exec(
        update(Period)
        .where(col(Period.id) == row.id, col(Period.recognised_entry_id).is_(None))
        .values(status="recognised", recognised_entry_id=doc.external_id,
                recognised_document_id=doc.document_id, recognised_amount=amount)
        .returning(col(Period.id))
    ).first()
    if won is None:
        raise SandboxError(409, "already_recognised",
                           f"period {period} of schedule {schedule_id} is already recognised")


def unlink_recognition(s: Session, external_id: str) -> None:
    """A reversed recognition journal leaves its period open again."""
    s.exec(update(Period).where(col(Period.recognised_entry_id) == external_id).values(
        status="open", recognised_entry_id=None, recognised_document_id=None,
        recognised_amount=None))
