"""Post-validations: provisional answers re-checked once the downstream is back.

A provisional answer is confirmed when the real answer agrees with it; when it does not
(the customer is blocked after all, the tax differs), the post-validation becomes an
exception item (`status = "exception"`, with both answers) for an operator:
`GET /v1/post-validations?status=exception`, `starter.py dlq exceptions`, and the
`cashloop_gateway_post_validation_exceptions` metric.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from .store import PostValidation, now_utc
from .validation import DownstreamUnavailableError, ValidationService
from .validation_models import TaxQuoteRequest, ValidateCustomerRequest, ValidateOrderRequest

log = structlog.get_logger("cashloop.gateway.postvalidation")


def queue(engine: Engine, kind: str, request: dict[str, Any], provisional: dict[str, Any]) -> int:
    row = PostValidation(kind=kind, request=request, provisional=provisional,
                         created_at=now_utc())
    with Session(engine) as s:
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def find(engine: Engine, status: str | None = None, limit: int = 500) -> list[PostValidation]:
    stmt = select(PostValidation)
    if status:
        stmt = stmt.where(col(PostValidation.status) == status)
    with Session(engine) as s:
        return list(s.exec(stmt.order_by(col(PostValidation.id)).limit(limit)).all())


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        rows = s.exec(select(PostValidation.status, func.count())
                      .group_by(PostValidation.status)).all()
    return {status: int(n) for status, n in rows}


def _resolve(engine: Engine, pv_id: int, status: str, detail: dict[str, Any] | None) -> None:
    with Session(engine) as s:
        row = s.get(PostValidation, pv_id)
        assert row is not None
        row.attempts += 1
        row.checked_at = now_utc()
        if status != "pending":
            row.status = status
        row.detail = detail
        s.add(row)
        s.commit()


async def check(service: ValidationService, row: PostValidation) -> tuple[str, dict[str, Any]]:
    """Re-run one validation strictly; (confirmed|exception, detail)."""
    corr = f"post-validation-{row.id}"
    real: Any
    if row.kind == "customer":
        real = await service.customer(ValidateCustomerRequest.model_validate(row.request),
                                      correlation_id=corr, strict=True)
        agrees = real.valid == row.provisional["valid"]
    elif row.kind == "order":
        real = await service.order(ValidateOrderRequest.model_validate(row.request),
                                   correlation_id=corr, strict=True)
        agrees = real.valid == row.provisional["valid"]
    else:
        real = await service.tax_quote(TaxQuoteRequest.model_validate(row.request),
                                       correlation_id=corr, strict=True)
        agrees = real.total.model_dump(mode="json") == row.provisional["total"]
    detail = {"real": real.model_dump(mode="json")}
    return ("confirmed" if agrees else "exception"), detail


async def run_pending(engine: Engine, service: ValidationService) -> dict[str, int]:
    """One pass over pending post-validations; returns how many ended in each status."""
    done: dict[str, int] = {}
    for row in await asyncio.to_thread(find, engine, "pending"):
        assert row.id is not None
        try:
            status, detail = await check(service, row)
        except DownstreamUnavailableError as exc:
            await asyncio.to_thread(_resolve, engine, row.id, "pending",
                                    {"last_error": exc.detail})
            continue
        await asyncio.to_thread(_resolve, engine, row.id, status, detail)
        if status == "exception":
            log.warning("post_validation_failed", post_validation_id=row.id, kind=row.kind)
        done[status] = done.get(status, 0) + 1
    return done


async def run_forever(engine: Engine, service: ValidationService, every_s: float = 5.0) -> None:
    while True:
        try:
            await run_pending(engine, service)
        except Exception as exc:  # the store is down: try again next round
            log.warning("post_validation_round_failed", error=repr(exc))
        await asyncio.sleep(every_s)
