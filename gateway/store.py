"""The gateway's own tables (inbox, forward queue, dead letters, post-validations, references).

SQLite by default (one file, `settings.store_url("gateway")`), PostgreSQL (schema `gateway`)
when CASHLOOP_DATABASE_URL is set; both through sqlmodel.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Index,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from adapters.sandbox.db import UtcDateTime, create_tables, make_engine, now_utc

__all__ = ["DeadLetter", "ForwardItem", "InboxMessage", "PostValidation", "Reference",
           "now_utc", "open_store"]


class GatewayTable(SQLModel, registry=registry()):
    """Base of the gateway's tables."""

    if TYPE_CHECKING:  # SQLAlchemy sets it on each table class; SQLModel does not declare it
        __table__: ClassVar[Table]


class InboxMessage(GatewayTable, table=True):
    """One accepted source event (a webhook, or one canonical envelope), kept as received."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "source_event_id", name="uq_inbox_source_event"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str  # "events" (canonical envelopes) or a source module name ("stripe")
    source_event_id: str
    source: str  # the authenticated sender (API key source) or the webhook's system
    event_type: str
    received_at: dt.datetime = Field(sa_type=UtcDateTime)
    mapping_version: str
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "accepted"  # accepted | ignored (mapped to no canonical event)
    note: str | None = None
    dead_letter_id: int | None = None  # set when the row came from a dead-letter replay


class ForwardItem(GatewayTable, table=True):
    """One canonical event waiting to be (or already) signalled to its subscription."""

    __tablename__ = "forward_queue"
    __table_args__ = (Index("ix_forward_pending", "forwarded_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(index=True)
    subscription_id: str = Field(index=True)
    event_id: str
    event_type: str
    # Resequencing key (see docs/gateway.md): events of one subscription drained together
    # are sent in (order_key, id) order.
    order_key: str = ""
    event: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    not_before: dt.datetime = Field(sa_type=UtcDateTime)
    forwarded_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    attempts: int = 0
    last_error: str | None = None
    # The forwarder sending it and until when (gateway/forward_claims.py).
    claimed_by: str | None = None
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


CLAIM_COLUMNS = ("claimed_by", "claimed_until")  # added after the first release


class DeadLetter(GatewayTable, table=True):
    """A request that could not be accepted, kept whole with why; replayable."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    source: str
    source_event_id: str | None = Field(default=None, index=True)
    event_type: str | None = None
    category: str = Field(index=True)
    reason: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: dt.datetime = Field(sa_type=UtcDateTime)
    mapping_version: str
    status: str = Field(default="open", index=True)  # open | replayed | superseded
    history: list[dict[str, Any]] = Field(default_factory=list,
                                          sa_column=Column(JSON, nullable=False))
    inbox_id: int | None = None


class PostValidation(GatewayTable, table=True):
    """A provisional validation answer waiting to be confirmed against the real system."""

    __tablename__ = "post_validations"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # customer | order | tax_quote
    request: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    provisional: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True)  # pending | confirmed | exception
    attempts: int = 0
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    checked_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Reference(GatewayTable, table=True):
    """What a source object (invoice, payment intent, charge) belongs to, learnt on the way.

    Stripe credit notes, charges and payment intents name an invoice or a payment, not
    the subscription events are routed by; the gateway remembers the route from the
    invoice events it has seen.
    """

    __tablename__ = "routes"

    channel: str = Field(primary_key=True)
    object_id: str = Field(primary_key=True)
    subscription_id: str
    customer_id: str | None = None
    invoice_id: str | None = None


def open_store(url: str, schema: str = "gateway") -> Engine:
    """The gateway store's engine, tables created if missing (PostgreSQL: in `schema`)."""
    engine = make_engine(url, schema)
    create_tables(engine, GatewayTable.metadata)
    add_claim_columns(engine)
    return engine


def add_claim_columns(engine: Engine) -> None:
    """Give a forward queue created before claims existed its claim columns."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    table = ForwardItem.__table__
    with engine.begin() as conn:
        have = {c["name"] for c in inspect(conn).get_columns(table.name, schema=schema)}
    quote = engine.dialect.identifier_preparer.quote
    qualified = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
    for name in CLAIM_COLUMNS:
        if name in have:
            continue
        ddl = table.c[name].type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {qualified} ADD COLUMN {quote(name)} {ddl}"))
        except (OperationalError, ProgrammingError):
            # Another gateway starting at the same moment added it first.
            with engine.begin() as conn:
                names = {c["name"] for c in inspect(conn).get_columns(table.name,
                                                                       schema=schema)}
            if name not in names:
                raise

