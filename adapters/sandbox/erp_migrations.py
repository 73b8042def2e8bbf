"""Versioned schema migrations of the sandbox ERP's books (SQLite and PostgreSQL).

`migrate(engine)` brings a store to the newest version in one transaction: it records
every applied version in `schema_migrations`, so each migration runs once per store.
Several processes may start on one store at once: PostgreSQL serialises them on an
advisory lock, SQLite on its write lock (BEGIN IMMEDIATE, see db.py). A store made
before versioning (tables but no `schema_migrations`) counts as version 1.

Add a migration by appending to MIGRATIONS; never edit a shipped one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, func, inspect, select, text

from .db import now_utc
from .erp_models import (
    Document,
    Entry,
    ErpTable,
    Line,
    Period,
    PeriodLock,
    Schedule,
    SchemaVersion,
    Sequence,
)

_ADVISORY_KEY = 0x45525042  # "ERPB": one key for every ERP schema's migration


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection, str | None], None]


def _table(model: type[ErpTable]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _create(*models: type[ErpTable]) -> Callable[[Connection, str | None], None]:
    def apply(conn: Connection, _schema: str | None) -> None:
        ErpTable.metadata.create_all(conn, tables=[_table(m) for m in models])
    return apply


def _add_columns(model: type[ErpTable], *names: str) -> Callable[[Connection, str | None], None]:
    """ALTER TABLE ... ADD COLUMN for each column the table does not have yet (nullable)."""
    def apply(conn: Connection, schema: str | None) -> None:
        table = _table(model)
        have = {c["name"] for c in inspect(conn).get_columns(table.name, schema=schema)}
        quote = conn.dialect.identifier_preparer.quote
        qualified = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
        for name in names:
            if name in have:
                continue
            ddl = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {qualified} ADD COLUMN {quote(name)} {ddl}"))
    return apply


def _v2(conn: Connection, schema: str | None) -> None:
    _add_columns(Document, "functional_amount", "functional_currency", "posted_period")(
        conn, schema)
    _add_columns(Entry, "original_posting_date")(conn, schema)
    _add_columns(Schedule, "functional_currency", "rate", "functional_total")(conn, schema)
    _add_columns(Period, "functional_amount", "original_functional_amount")(conn, schema)
    _create(PeriodLock)(conn, schema)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "documents, journal, schedules, numbering",
              _create(Sequence, Document, Entry, Line, Schedule, Period)),
    Migration(2, "period locks, FX amounts on schedules and documents, moved postings", _v2),
)
LATEST = MIGRATIONS[-1].version


def _schema(engine: Engine) -> str | None:
    translate = engine.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    return str(schema) if schema else None


def current_version(engine: Engine) -> int:
    """The store's schema version (0: empty)."""
    with engine.connect() as conn:
        return _version(conn, _schema(engine))


def _version(conn: Connection, schema: str | None) -> int:
    names = set(inspect(conn).get_table_names(schema=schema))
    if SchemaVersion.__tablename__ in names:
        found = conn.execute(select(func.max(_table(SchemaVersion).c.version))).scalar()
        if found:
            return int(found)
    return 1 if Document.__tablename__ in names else 0


def migrate(engine: Engine) -> list[int]:
    """Apply every migration the store lacks; returns the versions applied now."""
    schema = _schema(engine)
    if engine.dialect.name == "postgresql" and schema:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    applied: list[int] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
        version = _version(conn, schema)
        ErpTable.metadata.create_all(conn, tables=[_table(SchemaVersion)])
        versions = _table(SchemaVersion)
        if version and not conn.execute(select(versions.c.version)).first():
            # a store from before versioning: record its baseline
            conn.execute(versions.insert().values(version=version, name=MIGRATIONS[0].name,
                                                  applied_at=now_utc()))
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            m.apply(conn, schema)
            conn.execute(versions.insert().values(version=m.version, name=m.name,
                                                  applied_at=now_utc()))
            applied.append(m.version)
    return applied

