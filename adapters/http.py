"""HTTP calls to external systems with errors mapped onto the canonical hierarchy.

429, 5xx, timeouts and connection errors are transient; other 4xx are permanent.
The correlation id travels in the X-Correlation-Id header on every call, with the W3C
trace context of a client span (correlation_id is a span attribute); ERP errors are
counted by status code (observability.metrics).
"""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.trace import StatusCode

from canonical.errors import (
    CashloopError,
    InvalidDataError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from observability import metrics
from observability.tracing import client_span

CORRELATION_HEADER = "X-Correlation-Id"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    if isinstance(body, dict) and isinstance(body.get("o:errorDetails"), list):
        # NetSuite's REST errors: {"title", "status", "o:errorDetails": [{detail, code}]}
        return "; ".join(f"{d.get('o:errorCode', '')}: {d.get('detail', '')}"
                         for d in body["o:errorDetails"] if isinstance(d, dict))[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_for(response: httpx.Response, system: str) -> CashloopError:
    """The canonical error for a non-2xx answer."""
    status = response.status_code
    message = f"{response.request.method} {response.request.url.path} -> {status}: "
    message += _detail(response)
    if status == 429:
        return RateLimitedError(message, system=system, retry_after_s=_retry_after(response))
    if status >= 500 or status in (408, 425):
        return UnavailableError(message, system=system)
    if status == 404:
        return NotFoundError(message, system=system)
    if status == 409:
        return RejectedError(message, system=system)
    return InvalidDataError(message, system=system)


def _count_error(client: httpx.AsyncClient, system: str, status: str,
                 target: str | None) -> None:
    if system == "erp":
        url = client.base_url
        erp = target or f"{url.host}:{url.port}"
        metrics.erp_api_errors.add(1, {"erp": erp, "status_code": status})


async def call(client: httpx.AsyncClient, method: str, path: str, *, system: str,
               correlation_id: str, json: Any = None,
               params: dict[str, Any] | None = None,
               target: str | None = None, data: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None,
               answers: frozenset[int] = frozenset(),
               content: bytes | None = None) -> httpx.Response:
    """One request; returns the 2xx response or raises a canonical error.

    `target` names the system instance (an ERP target such as erp-legacy) in metrics;
    `data` is a form body, `content` a body already encoded; `answers` are non-2xx
    statuses that are the system's answer rather than an error (Stripe's 402 for a
    declined card), returned like a 2xx.
    """
    headers = {**(headers or {}), CORRELATION_HEADER: correlation_id}
    attributes = {"http.request.method": method, "url.path": path, "cashloop.system": system,
                  "server.address": client.base_url.host}
    with client_span(f"{method} {system}", correlation_id=correlation_id,
                     attributes=attributes, headers=headers) as span:
        try:
            response = await client.request(method, path, json=json, params=params,
                                            data=data, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            _count_error(client, system, "timeout", target)
            span.set_status(StatusCode.ERROR, "timeout")
            raise UnavailableError(f"{method} {path}: timed out ({exc!r})",
                                   system=system) from exc
        except httpx.TransportError as exc:
            _count_error(client, system, "connection", target)
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise UnavailableError(f"{method} {path}: {exc!r}", system=system) from exc
        span.set_attribute("http.response.status_code", response.status_code)
        if response.is_success or response.status_code in answers:
            return response
        _count_error(client, system, str(response.status_code), target)
        span.set_status(StatusCode.ERROR, str(response.status_code))
        raise error_for(response, system)
