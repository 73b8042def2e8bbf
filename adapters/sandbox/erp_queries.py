"""Read APIs of the sandbox ERP for reports and tests: journal, documents, schedules."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, select

from .erp_books import entry_model
from .erp_models import Document, Entry, Line, Period, Schedule
from .erp_store import ErpStore

# Bound parameters per IN (...) query; SQLite allows 32766, this stays far below.
_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def journal_entries(store: ErpStore, legal_entity: str | None = None,
                    date_from: dt.date | None = None,
                    date_to: dt.date | None = None) -> list[dict[str, Any]]:
    """Full JournalEntry JSON plus document_id, status and the posting's external id.

    Ordered by posting date, then booking order; `date_to` is inclusive.
    """
    stmt = select(Entry, Document).join(Document, col(Document.id) == col(Entry.document_pk))
    if legal_entity:
        stmt = stmt.where(Entry.legal_entity == legal_entity)
    if date_from:
        stmt = stmt.where(Entry.posting_date >= date_from)
    if date_to:
        stmt = stmt.where(Entry.posting_date <= date_to)
    stmt = stmt.order_by(col(Entry.posting_date), col(Entry.id))
    with Session(store.engine) as s:
        rows = list(s.exec(stmt).all())
        lines: dict[int, list[Line]] = defaultdict(list)
        ids = [e.id for e, _ in rows if e.id is not None]
        for chunk in _chunks(ids):
            for ln in s.exec(select(Line).where(col(Line.entry_pk).in_(chunk))).all():
                lines[ln.entry_pk].append(ln)
    result = []
    for entry, doc in rows:
        assert entry.id is not None
        result.append({**entry_model(entry, lines[entry.id]).model_dump(mode="json"),
                       "document_id": entry.document_id, "status": store.status_of(doc),
                       "posting_external_id": doc.external_id})
    return result


def documents(store: ErpStore, kind: str | None = None,
              legal_entity: str | None = None) -> list[dict[str, Any]]:
    """Every document in booking order, with its current status and posted body."""
    stmt = select(Document)
    if kind:
        stmt = stmt.where(Document.kind == kind)
    if legal_entity:
        stmt = stmt.where(Document.legal_entity == legal_entity)
    with Session(store.engine) as s:
        docs = list(s.exec(stmt.order_by(col(Document.id))).all())
    return [{"external_id": d.external_id, "kind": d.kind, "document_id": d.document_id,
             "status": store.status_of(d), "legal_entity": d.legal_entity,
             "business_key": d.business_key, "reversed_by": d.reversed_by, "reason": d.reason,
             "correlation_id": d.correlation_id, "created_at": d.created_at.isoformat(),
             "body": d.body} for d in docs]


def document_ids(store: ErpStore) -> list[str]:
    """External ids of every document: what an observer waiting for postings needs,
    without building every document's body and status on each look."""
    with Session(store.engine) as s:
        return list(s.exec(select(Document.external_id)).all())


def _period(p: Period) -> dict[str, Any]:
    return {"period": p.period, "start": p.period_start.isoformat(),
            "end": p.period_end.isoformat(), "amount": str(p.amount),
            "original_amount": str(p.original_amount), "status": p.status,
            "ended_by": p.ended_by, "recognised_entry_id": p.recognised_entry_id,
            "recognised_document_id": p.recognised_document_id,
            "recognised_amount": (None if p.recognised_amount is None
                                  else str(p.recognised_amount)),
            "functional_amount": (None if p.functional_amount is None
                                  else str(p.functional_amount))}


def schedules(store: ErpStore, legal_entity: str | None = None) -> list[dict[str, Any]]:
    """Schedules with their periods and the recognition entries that recognised them."""
    stmt = select(Schedule, Document).join(
        Document, col(Document.id) == col(Schedule.document_pk))
    if legal_entity:
        stmt = stmt.where(Schedule.legal_entity == legal_entity)
    with Session(store.engine) as s:
        rows = list(s.exec(stmt.order_by(col(Schedule.id))).all())
        periods: dict[int, list[Period]] = defaultdict(list)
        ids = [sch.id for sch, _ in rows if sch.id is not None]
        for chunk in _chunks(ids):
            stmt_p = select(Period).where(col(Period.schedule_pk).in_(chunk)).order_by(
                col(Period.period_start))
            for p in s.exec(stmt_p).all():
                periods[p.schedule_pk].append(p)
    return [{
        "schedule_id": sch.schedule_id, "external_id": doc.external_id,
        "document_id": doc.document_id, "status": sch.status,
        "legal_entity": sch.legal_entity, "customer_id": sch.customer_id,
        "subscription_id": sch.subscription_id, "invoice_id": sch.invoice_id,
        "line_id": sch.line_id, "method": sch.method, "currency": sch.currency,
        "total": str(sch.total), "service_start": sch.service_start.isoformat(),
        "service_end": sch.service_end.isoformat(),
        "ended_on": sch.ended_on.isoformat() if sch.ended_on else None,
        "functional_currency": sch.functional_currency,
        "rate": None if sch.rate is None else str(sch.rate),
        "periods": [_period(p) for p in periods[sch.id or 0]],
    } for sch, doc in rows]
