"""The ingestion gateway's HTTP API (FastAPI): intake, validation, operations.

Run it with `python -m gateway` (uvicorn on CASHLOOP_GATEWAY_PORT); `make up` and
`make demo` start it. docs/gateway.md describes every endpoint and error shape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from observability.metrics import observe_inbox_backlog

from . import intake, openapi
from .auth import presented_key
from .config import GatewayConfig
from .errors import ERROR_RESPONSES, error_response
from .models import BatchAccepted, EventAccepted, SettlementAccepted, WebhookAccepted
from .routes_ops import ops_router
from .routes_validation import validation_router
from .service import Gateway

MAX_EVENTS_BODY = 10 * 1024 * 1024
MAX_WEBHOOK_BODY = 1024 * 1024

ApiKeyHeader = Annotated[str | None, Header(alias="X-API-Key",
                                            description="the sender's API key")]
AuthorizationHeader = Annotated[str | None, Header(description="or `Bearer <API key>`")]


def _too_large(request: Request, limit: int) -> bool:
    length = request.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) > limit


def _sender(gw: Gateway, request: Request, x_api_key: str | None, authorization: str | None,
            limit: int) -> tuple[str, JSONResponse | None]:
    """The API key's source, or the answer refusing the request (401, 413)."""
    sender = gw.keys.source_of(presented_key(x_api_key, authorization))
    if sender is None:
        return "", error_response(401, "unauthorized", "missing or unknown API key",
                                  headers={"WWW-Authenticate": "Bearer"})
    if _too_large(request, limit):
        return sender, error_response(413, "payload_too_large",
                                      f"the body exceeds {limit} bytes")
    return sender, None


def create_app(config: GatewayConfig) -> FastAPI:
    gw = Gateway(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gw.start()
        # cashloop_inbox_backlog (OTel, on this /metrics): the inbox depth at each scrape
        unobserve = observe_inbox_backlog(
            lambda: [(int(gw.backlog_json()["pending"]), {"source": "all"})])
        try:
            yield
        finally:
            unobserve()
            await gw.stop()

    app = FastAPI(title="Cashloop ingestion gateway", version="1",
                  description=openapi.DESCRIPTION, lifespan=lifespan)
    app.state.gateway = gw

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (undecodable body, unknown path, wrong method) in our shape
        error = {400: "json_invalid", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error")
        return error_response(exc.status_code, error, str(exc.detail),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        items = [{"path": ".".join(str(p) for p in err["loc"]), "type": err["type"],
                  "message": err["msg"], "expected": err["msg"],
                  "got": openapi.short(err.get("input"))} for err in exc.errors()]
        return error_response(422, "schema_invalid", "the request is invalid", items)

    @app.post("/v1/events", tags=["intake"], status_code=202,
              summary="Canonical events (one envelope or an array of up to 1000)",
              responses={200: {"model": EventAccepted | BatchAccepted,
                               "description": "every event was a duplicate"},
                         202: {"model": EventAccepted | BatchAccepted,
                               "description": "accepted into the inbox"},
                         **ERROR_RESPONSES},
              openapi_extra=openapi.EVENTS_BODY)
    async def post_events(request: Request, x_api_key: ApiKeyHeader = None,
                          authorization: AuthorizationHeader = None) -> JSONResponse:
        sender, refused = _sender(gw, request, x_api_key, authorization, MAX_EVENTS_BODY)
        if refused is not None:
            return refused
        return await intake.accept_events(gw, await request.body(), sender, request.headers)

    @app.post("/v1/settlements", tags=["intake"], status_code=202,
              summary="A partner settlement report: one payment per invoice it settles",
              responses={200: {"model": SettlementAccepted, "description": "sent before"},
                         202: {"model": SettlementAccepted,
                               "description": "its payments accepted into the inbox"},
                         **ERROR_RESPONSES},
              openapi_extra=openapi.SETTLEMENT_BODY)
    async def post_settlement(request: Request, x_api_key: ApiKeyHeader = None,
                              authorization: AuthorizationHeader = None) -> JSONResponse:
        sender, refused = _sender(gw, request, x_api_key, authorization, MAX_WEBHOOK_BODY)
        if refused is not None:
            return refused
        return await intake.accept_settlement(gw, await request.body(), sender,
                                              request.headers)

    @app.post("/v1/webhooks/stripe", tags=["intake"], status_code=202,
              summary="Stripe webhook events (signed)",
              responses={200: {"model": WebhookAccepted, "description": "duplicate delivery"},
                         202: {"model": WebhookAccepted, "description": "accepted"},
                         **ERROR_RESPONSES},
              openapi_extra=openapi.STRIPE_BODY)
    async def post_stripe(request: Request, stripe_signature: Annotated[
            str | None, Header(alias="Stripe-Signature",
                               description="t=<unix>,v1=<hex>[,v1=<hex>]")] = None
                          ) -> JSONResponse:
        if _too_large(request, MAX_WEBHOOK_BODY):
            return error_response(413, "payload_too_large",
                                  f"the body exceeds {MAX_WEBHOOK_BODY} bytes")
        client = request.client.host if request.client else None
        return await intake.accept_stripe(gw, await request.body(), request.headers, client)

    app.include_router(validation_router(gw))
    app.include_router(ops_router(gw))

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse,
             summary="Prometheus metrics (backlog depth, breakers, counters)")
    async def metrics() -> PlainTextResponse:
        text = await asyncio.to_thread(gw.metrics.render, gw.gauges)
        # plus the process's OpenTelemetry instruments (observability/metrics.py), if any
        text += (await asyncio.to_thread(generate_latest)).decode()
        return PlainTextResponse(text)

    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    return app
