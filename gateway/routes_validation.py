"""The synchronous validation endpoints (request-response; see gateway/validation.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header
from pydantic import BaseModel, ValidationError

from .auth import presented_key
from .errors import ErrorBody, error_response
from .openapi import short
from .service import Gateway
from .validation import DownstreamUnavailableError
from .validation_models import (
    TaxQuoteRequest,
    TaxQuoteResponse,
    ValidateCustomerRequest,
    ValidateCustomerResponse,
    ValidateOrderRequest,
    ValidateOrderResponse,
)

R = TypeVar("R", bound=BaseModel)

RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not JSON"},
    401: {"model": ErrorBody, "description": "missing or unknown API key"},
    422: {"model": ErrorBody, "description": "the request is invalid"},
    503: {"model": ErrorBody, "description": "the downstream is unavailable and no "
                                             "fallback answer exists"},
}
ApiKey = Annotated[str | None, Header(alias="X-API-Key")]
Authorization = Annotated[str | None, Header()]
CorrelationId = Annotated[str | None, Header(alias="X-Correlation-Id")]


def validation_router(gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["validation"], responses=RESPONSES)

    async def guarded(key: str | None, authorization: str | None,
                      call: Callable[[], Awaitable[R]]) -> Any:
        if gw.keys.source_of(presented_key(key, authorization)) is None:
            return error_response(401, "unauthorized", "missing or unknown API key")
        try:
            return await call()
        except DownstreamUnavailableError as exc:
            return error_response(503, "downstream_unavailable", str(exc),
                                  headers={"Retry-After": "5"})
        except ValidationError as exc:  # e.g. an amount finer than the currency allows
            return error_response(422, "schema_invalid", "the request is invalid", [
                {"path": ".".join(str(p) for p in e["loc"]), "type": e["type"],
                 "message": e["msg"], "expected": e["msg"], "got": short(e.get("input"))}
                for e in exc.errors(include_url=False)])

    def corr(value: str | None) -> str:
        return value or f"validation-{uuid.uuid4().hex[:12]}"

    @router.post("/v1/validate/customer", response_model=ValidateCustomerResponse,
                 summary="Customer and legal-entity mapping (CRM)")
    async def validate_customer(req: ValidateCustomerRequest, x_api_key: ApiKey = None,
                                authorization: Authorization = None,
                                x_correlation_id: CorrelationId = None) -> Any:
        return await guarded(x_api_key, authorization, lambda: gw.validation.customer(
            req, correlation_id=corr(x_correlation_id)))

    @router.post("/v1/validate/order", response_model=ValidateOrderResponse,
                 summary="Legal-entity determination, credit check, tax nexus")
    async def validate_order(req: ValidateOrderRequest, x_api_key: ApiKey = None,
                             authorization: Authorization = None,
                             x_correlation_id: CorrelationId = None) -> Any:
        return await guarded(x_api_key, authorization, lambda: gw.validation.order(
            req, correlation_id=corr(x_correlation_id)))

    @router.post("/v1/tax/quote", response_model=TaxQuoteResponse,
                 summary="Tax quote from the tax engine")
    async def tax_quote(req: TaxQuoteRequest, x_api_key: ApiKey = None,
                        authorization: Authorization = None,
                        x_correlation_id: CorrelationId = None) -> Any:
        return await guarded(x_api_key, authorization, lambda: gw.validation.tax_quote(
            req, correlation_id=corr(x_correlation_id)))

    return router

