"""Intake of canonical events, partner settlements and Stripe webhooks: check, map, keep,
answer.

Every path ends in exactly one of: committed to the inbox (2xx), answered as a duplicate
(200, nothing written), kept as a dead letter (4xx with the reason), refused unsigned or
unauthenticated (401, nothing kept, logged without the body), or 503 when the store
cannot commit (the sender retries; nothing was acknowledged).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi.responses import JSONResponse

from . import dlq
from .errors import error_response
from .inbox import Accepted
from .service import Gateway, NoRoutes
from .signatures import HEADER, SignatureError, verify
from .sources.base import Category, Mapped, MappingError, problem
from .sources.canonical import split_body

log = structlog.get_logger("cashloop.gateway.intake")

MAX_EVENTS_PER_REQUEST = 1000
KEPT_HEADERS = ("content-type", "user-agent", "x-request-id", "x-correlation-id",
                "stripe-signature")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping with a message (never an API key or Authorization)."""
    return {k: headers[k] for k in KEPT_HEADERS if k in headers}


def _status_of(category: str) -> int:
    return 400 if category == Category.JSON_INVALID else 422


async def _dead_letter(gw: Gateway, channel: str, source: str, err: MappingError, body: bytes,
                       headers: dict[str, str], version: str, element: Any = None) -> int:
    event_id = event_type = None
    if isinstance(element, dict):
        event_id = element.get("event_id") or element.get("id")
        event_type = element.get("event_type") or element.get("type")
    gw.metrics.inc("cashloop_gateway_dead_letters_total", category=err.category, channel=channel)
    log.info("message_dead_lettered", channel=channel, category=err.category,
             source_event_id=str(event_id) if event_id else None)
    return await asyncio.to_thread(
        dlq.add, gw.engine, channel=channel, source=source, error=err, body=body,
        headers=headers, mapping_version=version,
        source_event_id=str(event_id)[:200] if isinstance(event_id, str | int) else None,
        event_type=str(event_type)[:200] if isinstance(event_type, str) else None)


def _store_down(exc: Exception) -> JSONResponse:
    log.error("inbox_write_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return error_response(503, "store_unavailable",
                          "the gateway could not store the message; retry later",
                          headers={"Retry-After": "5"})


def _result(mapped: Mapped, inbox_id: int | None, duplicate: bool) -> dict[str, Any]:
    return {"accepted": not duplicate, "event_id": mapped.source_event_id,
            "event_type": mapped.event_type,
            "subscription_id": mapped.events[0].subscription_id if mapped.events else None,
            "inbox_id": inbox_id, "duplicate": duplicate}


async def accept_events(gw: Gateway, body: bytes, sender: str,
                        headers: Mapping[str, str]) -> JSONResponse:
    """POST /v1/events: one envelope or an array; all valid or nothing accepted."""
    kept = kept_headers(headers)
    version = gw.canonical.mapping_version
    try:
        elements, is_array = split_body(body)
    except MappingError as err:
        dl = await _dead_letter(gw, "events", sender, err, body, kept, version)
        return error_response(400, err.category, err.message, err.errors, [dl])
    if is_array and not elements:
        return error_response(422, Category.SCHEMA_INVALID, "the array holds no events", [
            {"path": "", "type": "too_short", "message": "expected at least one event",
             "expected": "1..1000 events", "got": 0}])
    if len(elements) > MAX_EVENTS_PER_REQUEST:
        return error_response(413, "payload_too_large",
                              f"at most {MAX_EVENTS_PER_REQUEST} events per request")
    mapped: list[tuple[Any, Mapped]] = []
    failures: list[tuple[Any, MappingError]] = []
    for i, element in enumerate(elements):
        try:
            mapped.append((element, gw.canonical.map_element(element, f"{i}." if is_array
                                                             else "")))
        except MappingError as err:
            failures.append((element, err))
    if failures:
        ids = []
        for element, failure in failures:
            raw = json.dumps(element).encode() if is_array else body
            ids.append(await _dead_letter(gw, "events", sender, failure, raw, kept, version,
                                          element))
        first = failures[0][1]
        message = first.message if not is_array else (
            f"{len(failures)} of {len(elements)} events are invalid; none was accepted")
        return error_response(_status_of(first.category), first.category, message,
                              [e for _, err in failures for e in err.errors], ids)
    batch = [Accepted(channel="events", source=sender, mapped=m,
                      body=json.dumps(el, separators=(",", ":")) if is_array else body.decode(),
                      headers=kept, mapping_version=version) for el, m in mapped]
    try:
        receipts = await gw.inbox.put_many(batch)
    except Exception as exc:
        return _store_down(exc)
    gw.forwarder.wake()
    results = [_result(m, r.inbox_id, r.duplicate) for (_, m), r in zip(mapped, receipts,
                                                                        strict=True)]
    fresh = sum(not r.duplicate for r in receipts)
    gw.metrics.inc("cashloop_gateway_events_accepted_total", fresh, channel="events")
    gw.metrics.inc("cashloop_gateway_duplicates_total", len(receipts) - fresh, channel="events")
    status = 202 if fresh else 200
    if not is_array:
        return JSONResponse(results[0], status_code=status)
    return JSONResponse({"accepted": fresh, "duplicates": len(receipts) - fresh,
                         "results": results}, status_code=status)


async def accept_stripe(gw: Gateway, body: bytes, headers: Mapping[str, str],
                        client: str | None) -> JSONResponse:
    """POST /v1/webhooks/stripe: verify, map, keep."""
    try:
        verify(body, headers.get("stripe-signature"), gw.config.webhook_secrets,
               tolerance_s=gw.config.signature_tolerance_s)
    except SignatureError as err:
        # logged without the body: an unsigned payload is untrusted input
        log.warning("stripe_signature_rejected", reason=err.reason, body_bytes=len(body),
                    client=client)
        gw.metrics.inc("cashloop_gateway_signature_rejected_total", reason=err.reason)
        return error_response(401, "invalid_signature", err.message, [{
            "path": f"header:{HEADER}", "type": err.reason, "message": err.message,
            "expected": "t=<unix time>,v1=<HMAC-SHA256 hex> within the tolerance",
            "got": None}])
    kept = kept_headers(headers)
    version = gw.stripe.mapping_version
    try:
        mapped = gw.stripe.map(body, gw.routes_for("stripe"))
    except MappingError as err:
        try:
            element = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            element = None
        dl = await _dead_letter(gw, "stripe", "stripe", err, body, kept, version, element)
        return error_response(_status_of(err.category), err.category, err.message, err.errors,
                              [dl])
    acc = Accepted(channel="stripe", source="stripe", mapped=mapped,
                   body=body.decode("utf-8", errors="replace"), headers=kept,
                   mapping_version=version, hold_s=gw.config.resequence_window_s)
    try:
        receipt = await gw.inbox.put(acc)
    except Exception as exc:
        return _store_down(exc)
    if receipt.duplicate:
        gw.metrics.inc("cashloop_gateway_duplicates_total", channel="stripe")
        return JSONResponse({"received": True, "duplicate": True,
                             "event_id": mapped.source_event_id}, status_code=200)
    gw.metrics.inc("cashloop_gateway_events_accepted_total", channel="stripe")
    gw.forwarder.wake()
    return JSONResponse({
        "received": True, "duplicate": False, "event_id": mapped.source_event_id,
        "event_type": mapped.event_type, "inbox_id": receipt.inbox_id, "ignored": mapped.ignored,
        "events": [{"event_id": e.event_id, "event_type": e.event_type,
                    "subscription_id": e.subscription_id} for e in mapped.events]},
        status_code=202)


async def accept_settlement(gw: Gateway, body: bytes, sender: str,
                            headers: Mapping[str, str]) -> JSONResponse:
    """POST /v1/settlements: one partner settlement report, all its payments or none."""
    kept = kept_headers(headers)
    version = gw.settlements.mapping_version
    try:
        mapped = gw.settlements.map(body, NoRoutes())
        partner = mapped.events[0].source  # every payment is the report's partner's
        if partner != sender:
            raise MappingError(Category.SCHEMA_INVALID, f"the report names partner {partner!r}; "
                               f"this API key sends for {sender!r}", [
                                   problem("partner", "partner_mismatch", sender, partner)])
    except MappingError as err:
        dl = await _dead_letter(gw, "settlements", sender, err, body, kept, version)
        return error_response(_status_of(err.category), err.category, err.message, err.errors,
                              [dl])
    acc = Accepted(channel="settlements", source=sender, mapped=mapped,
                   body=body.decode("utf-8", errors="replace"), headers=kept,
                   mapping_version=version)
    try:
        receipt = await gw.inbox.put(acc)
    except Exception as exc:
        return _store_down(exc)
    payments = [{"event_id": e.event_id, "event_type": e.event_type,
                 "subscription_id": e.subscription_id} for e in mapped.events]
    answer = {"accepted": not receipt.duplicate, "duplicate": receipt.duplicate,
              "settlement_id": mapped.source_event_id, "inbox_id": receipt.inbox_id,
              "payments": [] if receipt.duplicate else payments}
    if receipt.duplicate:
        gw.metrics.inc("cashloop_gateway_duplicates_total", channel="settlements")
        return JSONResponse(answer, status_code=200)
    gw.metrics.inc("cashloop_gateway_events_accepted_total", len(payments),
                   channel="settlements")
    gw.forwarder.wake()
    return JSONResponse(answer, status_code=202)
