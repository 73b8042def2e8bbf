"""Operations endpoints: health, backlog depth, post-validation exception items."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from . import postvalidation
from .auth import presented_key
from .errors import ErrorBody, error_response
from .service import Gateway


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="ok: database and Temporal answer and no breaker is open")
    live: bool
    database: Check
    temporal: Check
    breakers: dict[str, dict[str, Any]]
    backlog: dict[str, Any]


class Backlog(BaseModel):
    pending: int = Field(description="canonical events accepted but not yet in Temporal")
    subscriptions: int
    oldest_pending_age_s: float
    forwarded: int
    forwarder_last_error: str | None
    engine_backlog: int | None = Field(
        None, description="workflow tasks waiting on the entity task queue at the forwarder's "
                          "last reading (none yet, or no limit)")
    engine_backlog_limit: int = Field(
        0, description="the forwarder holds events here while the engine's backlog is at or "
                       "above it (0: no limit)")


class PostValidationItem(BaseModel):
    id: int
    kind: str
    status: str
    attempts: int
    created_at: str
    checked_at: str | None
    request: dict[str, Any]
    provisional: dict[str, Any]
    detail: dict[str, Any] | None


def ops_router(gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="Liveness only (process up)")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/v1/health", response_model=Health,
                summary="Liveness, Temporal, database, circuit breakers, backlog")
    async def health() -> Health:
        db_ok, db_detail = await asyncio.to_thread(gw.database_ok)
        t_ok, t_detail = await gw.temporal_ok()
        breakers = {name: b.snapshot() for name, b in gw.breakers.items()}
        backlog = await asyncio.to_thread(gw.backlog_json) if db_ok else {}
        healthy = db_ok and t_ok and all(b["state"] != "open" for b in breakers.values())
        return Health(status="ok" if healthy else "degraded", live=True,
                      database=Check(ok=db_ok, detail=db_detail),
                      temporal=Check(ok=t_ok, detail=t_detail), breakers=breakers,
                      backlog=backlog)

    @router.get("/v1/backlog", response_model=Backlog,
                summary="Depth of the inbox not yet forwarded to Temporal")
    async def backlog() -> Backlog:
        return Backlog(**await asyncio.to_thread(gw.backlog_json))

    @router.get("/v1/post-validations", response_model=list[PostValidationItem],
                responses={401: {"model": ErrorBody}},
                summary="Provisional validations and their outcome (exception items)")
    async def post_validations(
            status: Annotated[Literal["pending", "confirmed", "exception"] | None,
                              Query()] = None,
            x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
            authorization: Annotated[str | None, Header()] = None) -> Any:
        if gw.keys.source_of(presented_key(x_api_key, authorization)) is None:
            return error_response(401, "unauthorized", "missing or unknown API key")
        rows = await asyncio.to_thread(postvalidation.find, gw.engine, status)
        return JSONResponse([PostValidationItem(
            id=r.id or 0, kind=r.kind, status=r.status, attempts=r.attempts,
            created_at=r.created_at.isoformat(),
            checked_at=r.checked_at.isoformat() if r.checked_at else None,
            request=r.request, provisional=r.provisional, detail=r.detail,
        ).model_dump(mode="json") for r in rows])

    return router
