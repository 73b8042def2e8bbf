"""Accounting periods in the sandbox ERP: locks, postings moved out of locked periods,
and the schedule periods a period close still has to recognise."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adapters.erp.port import PeriodLock as PeriodLockModel
from canonical.ledger import JournalEntry
from canonical.schedules import first_open_day

from .common import SandboxError
from .db import now_utc
from .erp_models import Period, PeriodLock, Schedule

if TYPE_CHECKING:
    from .erp_store import ErpStore


def _check_period(period: str) -> str:
    try:
        dt.date.fromisoformat(f"{period}-01")
    except ValueError:
        raise SandboxError(422, "validation", f"period must be YYYY-MM, got {period!r}") from None
    return period


_LOCKS = PeriodLock.__table__
# Asked for every journal posting: built once, run on the session's connection (Core).
_LOCKED = select(_LOCKS.c.period).where(_LOCKS.c.legal_entity == bindparam("legal_entity"))


def locked_periods(s: Session, legal_entity: str) -> set[str]:
    return set(s.connection().execute(_LOCKED, {"legal_entity": legal_entity}).scalars())


def relocate(s: Session, entry: JournalEntry) -> tuple[JournalEntry, str | None]:
    """An entry dated in a locked period moves to the first day of the first open one.

    Returns the entry to book and the period it moved to (None when it did not move).
    """
    day, moved = first_open_day(entry.posting_date, locked_periods(s, entry.legal_entity))
    if moved is None:
        return entry, None
    return entry.model_copy(update={"posting_date": day}), moved


def lock(store: ErpStore, legal_entity: str, period: str,
         correlation_id: str | None = None) -> PeriodLockModel:
    """Lock a period of an entity; locking it again answers the first lock as duplicate."""
    _check_period(period)
    if legal_entity not in store.entities:
        raise SandboxError(422, "unknown_legal_entity", f"unknown legal entity {legal_entity}")
    duplicate = False
    with Session(store.engine, expire_on_commit=False) as s:
        row = PeriodLock(legal_entity=legal_entity, period=period, locked_at=now_utc(),
                         correlation_id=correlation_id)
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            s.rollback()
            duplicate = True
            found = s.exec(select(PeriodLock).where(PeriodLock.legal_entity == legal_entity,
                                                    PeriodLock.period == period)).first()
            assert found is not None
            row = found
    if not duplicate:
        store.stats.incr("periods_locked")
    return PeriodLockModel(legal_entity=legal_entity, period=period, locked_at=row.locked_at,
                           erp=store.name, duplicate=duplicate)


def locks(store: ErpStore, legal_entity: str | None = None) -> list[dict[str, Any]]:
    stmt = select(PeriodLock).order_by(col(PeriodLock.legal_entity), col(PeriodLock.period))
    if legal_entity:
        stmt = stmt.where(PeriodLock.legal_entity == legal_entity)
    with Session(store.engine) as s:
        return [{"legal_entity": r.legal_entity, "period": r.period,
                 "locked_at": r.locked_at.isoformat(), "erp": store.name}
                for r in s.exec(stmt).all()]


def open_revenue_periods(store: ErpStore, legal_entity: str,
                         through: str) -> list[dict[str, Any]]:
    """Open periods of active or ended schedules up to `through`, with something to recognise."""
    _check_period(through)
    stmt = (select(Period, Schedule).join(Schedule, col(Schedule.id) == col(Period.schedule_pk))
            .where(Schedule.legal_entity == legal_entity, Period.status == "open",
                   col(Period.period) <= through)
            .order_by(col(Period.period), col(Schedule.schedule_id)))
    with Session(store.engine) as s:
        rows = list(s.exec(stmt).all())
    result = []
    for p, sch in rows:
        if p.amount == 0 and not p.functional_amount:
            continue  # nothing left after an early end
        functional = (None if p.functional_amount is None or not sch.functional_currency
                      else {"amount": str(p.functional_amount),
                            "currency": sch.functional_currency})
        result.append({
            "schedule_id": sch.schedule_id, "legal_entity": sch.legal_entity,
            "customer_id": sch.customer_id, "period": p.period,
            "start": p.period_start.isoformat(), "end": p.period_end.isoformat(),
            "amount": {"amount": str(p.amount), "currency": sch.currency},
            "functional_amount": functional,
            "rate": None if sch.rate is None else str(sch.rate)})
    return result
