"""Schema versions: parsing any supported version, upcasting old ones, exporting JSON Schema.

Rule: a schema change that is not purely additive-and-optional bumps the event's
version; the old payload model stays here, and an upcaster lifts v(n) to v(n+1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ValidationError

from .base import Canonical, EntityCode, Id
from .errors import InvalidDataError
from .events import EVENT_TYPES, EnvelopeBase, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class InvalidEventError(InvalidDataError):
    """An event that cannot be parsed; `errors` says where and why, field by field."""

    kind_suffix = "invalid_event"

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, system="schema")
        self.errors = errors


# --- retired versions -------------------------------------------------------------------


class PaymentSucceededV1Payload(Canonical):
    """payment.succeeded v1: flat amount and currency strings, fee as a bare amount."""

    payment_id: Id
    invoice_id: Id
    customer_id: Id
    legal_entity: EntityCode
    amount: Decimal
    currency: str
    fee_amount: Decimal | None = None
    received_on: str
    method: str = "card"


class PaymentSucceededV1(BaseModel):
    """The v1 envelope, kept for validation and schema export only."""

    event_id: Id
    event_type: Literal["payment.succeeded"]
    schema_version: Literal[1]
    occurred_at: AwareDatetime
    source: Id
    sequence: int | None = None
    correlation_id: Id
    keys: dict[str, str | None] = {}
    payload: PaymentSucceededV1Payload


def _payment_succeeded_v1_to_v2(event: dict[str, Any]) -> dict[str, Any]:
    old = event["payload"]
    currency = old["currency"]
    payment = {
        "payment_id": old["payment_id"],
        "invoice_id": old["invoice_id"],
        "customer_id": old["customer_id"],
        "legal_entity": old["legal_entity"],
        "amount": {"amount": str(old["amount"]), "currency": currency},
        "fee": ({"amount": str(old["fee_amount"]), "currency": currency}
                if old.get("fee_amount") is not None else None),
        "received_on": old["received_on"],
        "method": old.get("method", "card"),
    }
    return {**event, "schema_version": 2, "payload": {"payment": payment}}


# (event_type, version) -> model that validates that version
OLD_VERSIONS: dict[tuple[str, int], type[BaseModel]] = {
    ("payment.succeeded", 1): PaymentSucceededV1,
}
# (event_type, from_version) -> function lifting it one version up
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("payment.succeeded", 1): _payment_succeeded_v1_to_v2,
}


def all_versions() -> dict[tuple[str, int], type[BaseModel]]:
    """Every supported (event_type, schema_version) and the model that validates it."""
    current: dict[tuple[str, int], type[BaseModel]] = {
        (name, cls.CURRENT_VERSION): cls for name, cls in EVENT_TYPES.items()
    }
    return dict(sorted({**OLD_VERSIONS, **current}.items()))


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "path": ".".join(str(p) for p in err["loc"]),
            "type": err["type"],
            "message": err["msg"],
            "got": _short(err.get("input")),
        }
        for err in exc.errors(include_url=False)
    ]


def _short(value: Any) -> Any:
    if isinstance(value, dict | list):
        return f"<{type(value).__name__}>"
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def parse_event(raw: dict[str, Any] | str | bytes) -> Event:
    """Validate an event of any supported version and return it at the current version.

    Raises:
        InvalidEventError: with one entry per problem (path, type, message, got).
    """
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidEventError("body is not valid JSON", [
                {"path": "", "type": "json_invalid", "message": str(exc), "got": None}
            ]) from exc
    if not isinstance(raw, dict):
        raise InvalidEventError("an event must be a JSON object", [
            {"path": "", "type": "object_type", "message": "expected an object",
             "got": type(raw).__name__}])
    event_type = raw.get("event_type")
    cls = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if cls is None or not isinstance(event_type, str):  # the second only narrows for mypy
        raise InvalidEventError(f"unknown event_type {event_type!r}", [
            {"path": "event_type", "type": "unknown_event_type",
             "message": f"expected one of {sorted(EVENT_TYPES)}", "got": _short(event_type)}])
    version = raw.get("schema_version", cls.CURRENT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not (
        version == cls.CURRENT_VERSION or (event_type, version) in OLD_VERSIONS
    ):
        supported = sorted(v for (t, v) in all_versions() if t == event_type)
        raise InvalidEventError(f"unsupported schema_version for {event_type}", [
            {"path": "schema_version", "type": "unsupported_version",
             "message": f"expected one of {supported}", "got": _short(version)}])
    try:
        while version < cls.CURRENT_VERSION:
            OLD_VERSIONS[(event_type, version)].model_validate(raw)
            raw = UPCASTERS[(event_type, version)](raw)
            version += 1
        return cls.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise InvalidEventError(f"invalid {event_type} v{version}", _errors(exc)) from exc


def dump_event(event: EnvelopeBase) -> dict[str, Any]:
    """The JSON-ready wire form of an event (the inverse of `parse_event`)."""
    return event.model_dump(mode="json", exclude_none=True)


def export_json_schemas(directory: Path) -> list[Path]:
    """Write `<event_type>.v<version>.schema.json` for every supported version."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for (event_type, version), model in all_versions().items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://cashloop.dev/schemas/{event_type}.v{version}.schema.json"
        path = directory / f"{event_type}.v{version}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
