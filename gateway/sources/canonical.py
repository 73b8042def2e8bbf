"""The canonical source: envelopes as docs/events.md defines them, older versions upcast."""

from __future__ import annotations

import json
from typing import Any

from canonical.schemas import InvalidEventError, parse_event

from .base import Category, Mapped, MappingError, Routes

MAPPING_VERSION = "canonical-1"

_CATEGORY_OF_TYPE = {
    "json_invalid": Category.JSON_INVALID,
    "unknown_event_type": Category.UNKNOWN_EVENT_TYPE,
}


def _expected(err: dict[str, Any]) -> str:
    message = str(err.get("message", ""))
    return message.removeprefix("expected ").removeprefix("Input should be ")


def error_items(exc: InvalidEventError, prefix: str = "") -> list[dict[str, Any]]:
    """InvalidEventError items in the gateway's error shape (path, type, expected, got)."""
    return [{"path": prefix + e["path"] if e["path"] else prefix.rstrip("."),
             "type": e["type"], "message": e["message"], "expected": _expected(e),
             "got": e.get("got")} for e in exc.errors]


def split_body(body: bytes) -> tuple[list[Any], bool]:
    """The elements of a body that is one JSON object or an array of them.

    Returns:
        (elements, is_array)

    Raises:
        MappingError: json_invalid when the body is not JSON.
    """
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(Category.JSON_INVALID, "body is not valid JSON", [{
            "path": "", "type": "json_invalid", "message": str(exc),
            "expected": "a JSON object or array of objects", "got": None}]) from exc
    if isinstance(parsed, list):
        return parsed, True
    return [parsed], False


class CanonicalMapper:
    """Validates one canonical envelope (any supported version) and upcasts it."""

    channel = "events"
    mapping_version = MAPPING_VERSION
    untrusted_order = False

    def map_element(self, element: Any, prefix: str = "") -> Mapped:
        """Map one parsed element; `prefix` (e.g. "3.") is put before error paths."""
        if not isinstance(element, dict):
            raise MappingError(Category.SCHEMA_INVALID, "an event must be a JSON object", [
                {"path": prefix.rstrip("."), "type": "object_type",
                 "message": "expected an object", "expected": "object",
                 "got": type(element).__name__}])
        try:
            event = parse_event(element)
        except InvalidEventError as exc:
            first = exc.errors[0]["type"] if exc.errors else ""
            category = _CATEGORY_OF_TYPE.get(first, Category.SCHEMA_INVALID)
            raise MappingError(category, exc.message, error_items(exc, prefix)) from exc
        return Mapped(source_event_id=event.event_id, event_type=event.event_type,
                      events=[event], order_keys=[""])

    def map(self, body: bytes, routes: Routes) -> Mapped:
        """One envelope from a raw body (dead-letter replay uses this)."""
        elements, is_array = split_body(body)
        if is_array:
            raise MappingError(Category.SCHEMA_INVALID, "expected one event, got an array", [
                {"path": "", "type": "object_type", "message": "expected an object",
                 "expected": "object", "got": "array"}])
        return self.map_element(elements[0])
