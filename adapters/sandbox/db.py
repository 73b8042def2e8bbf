"""Database plumbing of the sandbox stores: engines, schemas and exact column types."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, String, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import create_engine

# How long a SQLite writer waits for the lock before failing (concurrent requests queue here).
SQLITE_BUSY_TIMEOUT_MS = 15_000

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def now_utc() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def schema_name(service: str) -> str:
    """The PostgreSQL schema of a sandbox service: `erp-legacy` -> `erp_legacy`."""
    name = service.replace("-", "_").lower()
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"{service!r} does not make a valid schema name")
    return name


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as TEXT: money never passes through a float."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("refusing to store a float as a decimal amount")
        return str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime; SQLite hands back naive values, read here as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise TypeError("datetimes must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if not isinstance(value, dt.datetime):
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    in_memory = database is None or database in ("", ":memory:")
    if database and not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if in_memory else {"pool_size": 10, "max_overflow": 20}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling begins lazily and DEFERRED, so a read that
        # later writes can fail with "database is locked" without waiting; take the
        # write lock up front instead (see _on_begin) and let the busy timeout queue us.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str, service: str) -> Engine:
    """The engine of one sandbox store.

    SQLite: a file per store (WAL, busy timeout, immediate write transactions).
    PostgreSQL: the service's own schema (`schema_name(service)`) through
    `schema_translate_map`, so several services share one database.

    Args:
        url: a SQLAlchemy URL, e.g. `sqlite:///data/stores/crm.db` or
            `postgresql+psycopg://postgres@127.0.0.1:5432/test`.
        service: the sandbox service name; names the PostgreSQL schema.
    """
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if backend == "postgresql":
        engine = engine.execution_options(schema_translate_map={None: schema_name(service)})
    return engine


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create the service's schema (PostgreSQL) and its tables if missing."""
    if engine.dialect.name == "postgresql":
        schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
        if schema:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    metadata.create_all(engine)


def drop_schema(url: str, service: str) -> None:
    """Drop a service's PostgreSQL schema and everything in it (test clean-up)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name(service)}" CASCADE'))
    finally:
        engine.dispose()
