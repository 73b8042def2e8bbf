"""What every source module gives the gateway: mapped canonical events, or a precise refusal.

A source module (`gateway/sources/<name>.py`) turns one raw message of its system into
zero or more canonical events. Adding a source (Chargebee, Zuora, Lago) is one module
with a `Mapper` and an entry in `gateway/sources/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from canonical.events import EnvelopeBase


class Category:
    """Dead-letter categories: why a message could not be accepted (stable strings)."""

    JSON_INVALID = "json_invalid"
    SCHEMA_INVALID = "schema_invalid"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNMAPPABLE_CUSTOMER = "unmappable_customer"
    UNROUTABLE = "unroutable"

    ALL = (JSON_INVALID, SCHEMA_INVALID, UNKNOWN_EVENT_TYPE, UNMAPPABLE_CUSTOMER, UNROUTABLE)


class MappingError(Exception):
    """A message that cannot become canonical events.

    Args:
        category: one of `Category`.
        message: one line for humans.
        errors: one item per problem: `path` (dotted, in the source message), `type`,
            `message`, `expected`, `got`.
    """

    def __init__(self, category: str, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.errors = errors


def problem(path: str, type_: str, expected: str, got: Any = None,
            message: str | None = None) -> dict[str, Any]:
    """One error item in the shape every gateway error uses."""
    return {"path": path, "type": type_, "message": message or f"expected {expected}",
            "expected": expected, "got": got}


@dataclass(frozen=True)
class Route:
    """What a source object belongs to (learnt from invoice events, used by later ones)."""

    object_id: str
    subscription_id: str
    customer_id: str | None = None
    invoice_id: str | None = None


@dataclass(frozen=True)
class Mapped:
    """One source message, mapped.

    `events` may be empty (the message has no accounting meaning, e.g. a metadata-only
    subscription update): the message is still kept in the inbox, marked ignored with
    `ignored` as the reason.
    """

    source_event_id: str
    event_type: str
    events: list[EnvelopeBase] = field(default_factory=list)
    # Per event: resequencing key (see docs/gateway.md); "" keeps arrival order.
    order_keys: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    ignored: str | None = None


class Routes(Protocol):
    """Look-up of routes learnt earlier (the gateway store's `references` table)."""

    def route_of(self, object_id: str) -> Route | None: ...


class Mapper(Protocol):
    """A source module's mapping entry point."""

    channel: str
    mapping_version: str
    # True when the source gives no order: its events wait the resequencing window.
    untrusted_order: bool

    def map(self, body: bytes, routes: Routes) -> Mapped:
        """Map one raw message; raises MappingError with the category and field paths."""
        ...
