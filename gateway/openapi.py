"""The OpenAPI document: request bodies the handlers read raw, and the canonical schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from canonical.events import Event

from .sources.settlements import SettlementReport

DESCRIPTION = """\
Upstream systems reach Cashloop here. Canonical events (docs/events.md) come to
`POST /v1/events` with an API key, partners' settlement reports to `POST /v1/settlements`;
Stripe webhooks come signed to `POST /v1/webhooks/stripe`.
Every accepted message is committed to the durable inbox before the 2xx answer and then
forwarded to its `SubscriptionWorkflow`. A redelivery is answered 200 with
`"duplicate": true`. Anything that cannot be accepted is answered with the `ErrorBody`
shape (field path, expected, got) and, when it was authentic, kept as a dead letter.
The validation endpoints answer synchronously with circuit breakers and documented
fallbacks (`provisional: true`). See docs/gateway.md.
"""

_COMPONENT = "#/components/schemas/{model}"
_EVENT_SCHEMA = TypeAdapter(Event).json_schema(ref_template=_COMPONENT)
_EVENT_DEFS: dict[str, Any] = _EVENT_SCHEMA.pop("$defs", {})
_EVENT_DEFS["CanonicalEvent"] = _EVENT_SCHEMA
_SETTLEMENT_SCHEMA = SettlementReport.model_json_schema(ref_template=_COMPONENT)
_EVENT_DEFS.update(_SETTLEMENT_SCHEMA.pop("$defs", {}))
_EVENT_DEFS["SettlementReport"] = _SETTLEMENT_SCHEMA

EVENTS_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "description": "One canonical envelope, or an array of 1..1000. Older schema versions "
                       "(e.g. payment.succeeded v1) are also accepted and upcast.",
        "anyOf": [{"$ref": "#/components/schemas/CanonicalEvent"},
                  {"type": "array", "minItems": 1, "maxItems": 1000,
                   "items": {"$ref": "#/components/schemas/CanonicalEvent"}}]}}}}}

SETTLEMENT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/SettlementReport"}}}}}

STRIPE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "description": "A Stripe event object, exactly as Stripe sent it "
                                         "(the signature covers the raw bytes).",
        "required": ["id", "type", "created", "data"],
        "properties": {
            "id": {"type": "string", "example": "evt_1Pgc76B7WZ01zgkWwyRHS12y"},
            "object": {"type": "string", "enum": ["event"]},
            "type": {"type": "string", "example": "invoice.finalized"},
            "created": {"type": "integer"},
            "api_version": {"type": ["string", "null"]},
            "data": {"type": "object", "required": ["object"],
                     "properties": {"object": {"type": "object"},
                                    "previous_attributes": {"type": "object"}}}}}}}}}


def short(value: Any) -> Any:
    if isinstance(value, dict | list):
        return f"<{type(value).__name__}>"
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def build(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the canonical event schemas as components (cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in _EVENT_DEFS.items():
        components.setdefault(name, definition)
    app.openapi_schema = schema
    return schema
