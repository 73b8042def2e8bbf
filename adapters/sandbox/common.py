"""What every sandbox service shares: its error type, admin routes and the app skeleton."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.tracing import CORRELATION_ATTRIBUTE, server_span

from .faults import FaultInjector, FaultMiddleware, FaultSettings


class SandboxError(Exception):
    """A business refusal, answered as `{"detail", "type"}` with an HTTP status.

    Args:
        status: the HTTP status (404, 409, 422, ...).
        type: a stable machine-readable reason such as "unknown_invoice".
        detail: what went wrong, for humans.
    """

    def __init__(self, status: int, type: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON error body (also used for batch item errors)."""
        return {"status": self.status, "type": self.type, "detail": self.detail}


def validation_detail(exc: ValidationError | RequestValidationError) -> str:
    """A short one-line summary of pydantic errors."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg', '')}" if loc else str(err.get("msg", "")))
    return "; ".join(parts)[:500]


def stable_hash(body: Any) -> str:
    """sha256 of canonical JSON, ignoring `correlation_id` fields.

    A correlation id is tracing metadata: the same business document re-sent under a
    new trace is a duplicate, not a conflict.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "correlation_id"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ObservedRequestMiddleware:
    """Continues the caller's trace (W3C headers) in a server span, binds the caller's
    X-Correlation-Id to every log line of the request, and logs one line per request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = structlog.get_logger("cashloop.sandbox")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        correlation_id = headers.get("x-correlation-id", "")
        method, path = scope["method"], scope["path"]
        status = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.monotonic()
        attributes = {"http.request.method": method, "url.path": path,
                      "cashloop.service": self.service, CORRELATION_ATTRIBUTE: correlation_id}
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id,
                                                     sandbox=self.service), \
                server_span(f"{method} {self.service}", headers, attributes) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                span.set_attribute("http.response.status_code", status["code"])
                # Health probes are frequent and say nothing: debug only.
                emit = self.log.debug if path == "/health" else self.log.info
                emit("sandbox_request_handled", method=method, path=path,
                              status=status["code"],
                              duration_ms=round((time.monotonic() - started) * 1e3, 1))


def new_app(service: str, faults: FaultSettings | None) -> FastAPI:
    """A FastAPI app with health, `/_admin/faults`, `/_admin/stats` and fault injection."""
    injector = FaultInjector(faults)
    app = FastAPI(title=f"Cashloop sandbox: {service}")
    app.state.service = service
    app.state.injector = injector
    app.add_middleware(FaultMiddleware, injector=injector)
    app.add_middleware(ObservedRequestMiddleware, service=service)  # outermost: sees faults

    @app.exception_handler(SandboxError)
    async def _sandbox_error(_request: Request, exc: SandboxError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"status": 422, "type": "validation",
                             "detail": validation_detail(exc)}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness; never faulted."""
        return {"status": "ok", "service": service}

    @app.get("/_admin/faults")
    async def get_faults() -> FaultSettings:
        """The current fault settings."""
        return injector.settings

    @app.put("/_admin/faults")
    async def put_faults(patch: dict[str, Any]) -> FaultSettings:
        """Replace some or all fault settings; omitted fields keep their value."""
        try:
            injector.settings = injector.settings.merged(patch)
        except ValidationError as exc:
            raise SandboxError(422, "validation", validation_detail(exc)) from exc
        return injector.settings

    @app.get("/_admin/stats")
    async def get_stats() -> dict[str, Any]:
        """Request and business counters of this instance."""
        return {"service": service, "in_flight": injector.in_flight,
                **injector.stats.snapshot()}

    @app.post("/_admin/stats/reset")
    async def reset_stats() -> dict[str, str]:
        """Start the counters from zero."""
        injector.stats.reset()
        return {"status": "reset"}

    return app
