"""The sandbox ERP as an HTTP service (one app per ERP instance: erp-legacy, erp-cloud)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine

from adapters.erp.port import ErpReceipt, PeriodLock
from canonical.accounts import LegalEntity

from . import erp_periods, erp_queries
from .common import SandboxError, new_app, validation_detail
from .erp_postings import ErpConfig
from .erp_store import ErpStore
from .faults import FaultSettings

MAX_BATCH = 100

CorrelationId = Annotated[str | None, Header(alias="X-Correlation-Id")]


class PostingsRequest(BaseModel):
    """A batch of postings; each item is validated on its own so one bad item fails alone."""

    postings: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
    # One per posting when a batch carries postings of several flows (ERP batching);
    # otherwise the X-Correlation-Id header applies to all.
    correlation_ids: list[str | None] | None = None


class ReverseRequest(BaseModel):
    """Body of a reversal: its own idempotency key and why."""

    reversal_external_id: str = Field(min_length=1, max_length=200)
    reason: str = ""


class CancelRequest(BaseModel):
    """Body of a contract cancellation."""

    reason: str = ""


def create_erp_app(name: str, engine: Engine, entities: Mapping[str, LegalEntity],
                   faults: FaultSettings | None = None,
                   config: ErpConfig | None = None) -> FastAPI:
    """The sandbox ERP `name` over `engine` (tables created now).

    Args:
        name: the instance name ("erp-legacy"); answered as `erp` in receipts.
        engine: from `adapters.sandbox.db.make_engine(url, name)`.
        entities: legal entities with their charts of accounts.
        faults: initial fault settings (changeable at `/_admin/faults`).
        config: initial confirmation config (changeable at `/_admin/config`).
    """
    app = new_app(name, faults)
    store = ErpStore(name, engine, entities, app.state.injector.stats, config)
    app.state.erp_store = store
    stats = store.stats

    # Handlers are plain `def`: FastAPI runs them in its thread pool, so blocking
    # database work never stalls the event loop (or the fault middleware).
    @app.post("/v1/postings")
    def post_postings(req: PostingsRequest,
                      correlation_id: CorrelationId = None) -> dict[str, Any]:
        """Record 1..100 postings, each on its own (ErpStore.post_batch); results in
        input order."""
        stats.incr("batch_calls")
        stats.incr("documents_in_batches", len(req.postings))
        cids = req.correlation_ids or []
        if cids and len(cids) != len(req.postings):
            raise SandboxError(422, "correlation_ids_mismatch",
                               f"{len(cids)} correlation ids for {len(req.postings)} postings")
        return {"results": store.post_batch(
            req.postings, [(cids[i] if cids else None) or correlation_id
                           for i in range(len(req.postings))])}

    @app.get("/v1/postings/{external_id:path}")
    def get_posting(external_id: str) -> ErpReceipt:
        """The receipt of one document (pending ones settle here)."""
        return store.receipt(external_id)

    @app.post("/v1/postings/{external_id:path}/reverse")
    def reverse_posting(external_id: str, req: ReverseRequest,
                        correlation_id: CorrelationId = None) -> ErpReceipt:
        """Post the mirror entry of a document under a new external id."""
        return store.reverse(external_id, req.reversal_external_id, req.reason, correlation_id)

    @app.post("/v1/contracts/{external_id:path}/cancel")
    def cancel_contract(external_id: str, req: CancelRequest) -> ErpReceipt:
        """Mark a contract cancelled (idempotent)."""
        return store.cancel_contract(external_id, req.reason)

    @app.get("/v1/journal-entries")
    def journal_entries(legal_entity: str | None = None, date_from: dt.date | None = None,
                        date_to: dt.date | None = None) -> dict[str, Any]:
        """Booked journal entries by posting date (date_to inclusive)."""
        return {"entries": erp_queries.journal_entries(store, legal_entity, date_from,
                                                       date_to)}

    @app.get("/v1/documents")
    def documents(kind: str | None = None, legal_entity: str | None = None) -> dict[str, Any]:
        """The document register with posted bodies."""
        return {"documents": erp_queries.documents(store, kind, legal_entity)}

    @app.get("/v1/schedules")
    def schedules(legal_entity: str | None = None) -> dict[str, Any]:
        """Revenue schedules with periods and recognition links."""
        return {"schedules": erp_queries.schedules(store, legal_entity)}

    @app.post("/v1/periods/{legal_entity}/{period}/lock")
    def lock_period(legal_entity: str, period: str,
                    correlation_id: CorrelationId = None) -> PeriodLock:
        """Lock (close) a period; postings dated in it later go to the first open period."""
        return erp_periods.lock(store, legal_entity, period, correlation_id)

    @app.get("/v1/periods/locks")
    def period_locks(legal_entity: str | None = None) -> dict[str, Any]:
        """Locked periods per legal entity."""
        return {"locks": erp_periods.locks(store, legal_entity)}

    @app.get("/v1/revenue/open-periods")
    def open_revenue_periods(legal_entity: str, through: str) -> dict[str, Any]:
        """Schedule periods up to `through` (YYYY-MM) with revenue still to recognise."""
        return {"periods": erp_periods.open_revenue_periods(store, legal_entity, through)}

    @app.get("/_admin/documents")
    def admin_documents() -> dict[str, Any]:
        """The register for observers (benchmarks, drills): outside the rate limit and
        the request counters, so watching the ERP does not change what it measures."""
        return {"documents": erp_queries.documents(store, None, None)}

    @app.get("/_admin/document_ids")
    def admin_document_ids() -> dict[str, Any]:
        """External ids only: cheap enough to poll while a benchmark measures."""
        return {"ids": erp_queries.document_ids(store)}

    @app.get("/_admin/config")
    async def get_config() -> ErpConfig:
        """The asynchronous-confirmation config."""
        return store.config

    @app.put("/_admin/config")
    async def put_config(patch: dict[str, Any]) -> ErpConfig:
        """Replace some or all of the confirmation config."""
        try:
            store.config = ErpConfig.model_validate({**store.config.model_dump(), **patch})
        except ValidationError as exc:
            raise SandboxError(422, "validation", validation_detail(exc)) from exc
        return store.config

    return app
