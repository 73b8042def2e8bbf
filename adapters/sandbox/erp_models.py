"""Tables of the sandbox ERP: document register, journal, revenue schedules, numbering."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, Column, ForeignKey, Integer, Table, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from .db import DecimalText, UtcDateTime


class ErpTable(SQLModel, registry=registry()):
    """Base of the ERP's tables: their own metadata, so create_all makes only these."""

    if TYPE_CHECKING:  # SQLAlchemy sets it on each table class; SQLModel does not declare it
        __table__: ClassVar[Table]


class Sequence(ErpTable, table=True):
    """The last document number handed out per prefix (INV, PAY, JE, ...)."""

    __tablename__ = "sequences"

    prefix: str = Field(primary_key=True)
    last: int = 0


class Document(ErpTable, table=True):
    """Every posting the ERP accepted, keyed by the caller's external id."""

    __tablename__ = "documents"

    id: int | None = Field(default=None, primary_key=True)
    # The idempotency key: the UNIQUE constraint decides concurrent duplicates.
    external_id: str = Field(unique=True)
    kind: str = Field(index=True)
    document_id: str = Field(unique=True)
    status: str
    legal_entity: str | None = Field(default=None, index=True)
    # The business id inside the body: invoice_id, schedule_id, subscription_id, ...
    business_key: str | None = Field(default=None, index=True)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    body_hash: str
    correlation_id: str | None = None
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    reversed_by: str | None = None
    reason: str | None = None
    # An amount the receipt reports (schedule_end: the unrecognised revenue released).
    amount: Decimal | None = Field(default=None, sa_type=DecimalText)
    currency: str | None = None
    # v2: the same in the functional currency (schedule_end of a foreign schedule).
    functional_amount: Decimal | None = Field(default=None, sa_type=DecimalText)
    functional_currency: str | None = None
    # v2: the open period a posting dated in a locked period was booked in instead.
    posted_period: str | None = None


class Entry(ErpTable, table=True):
    """A journal entry as booked; at most one per document."""

    __tablename__ = "journal_entries"

    id: int | None = Field(default=None, primary_key=True)
    document_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("documents.id"), unique=True, nullable=False))
    document_id: str
    external_id: str = Field(index=True)
    legal_entity: str = Field(index=True)
    posting_date: dt.date = Field(index=True)
    currency: str
    memo: str = ""
    source_type: str
    source_id: str
    functional_currency: str | None = None
    rate: Decimal | None = Field(default=None, sa_type=DecimalText)
    correlation_id: str | None = None
    # v2: the date the entry was posted with when its period was locked.
    original_posting_date: dt.date | None = None


class Line(ErpTable, table=True):
    """One debit or credit of an entry; amounts exact decimal text."""

    __tablename__ = "journal_lines"

    id: int | None = Field(default=None, primary_key=True)
    entry_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("journal_entries.id"), index=True, nullable=False))
    line_no: int
    account: str
    side: str
    amount: Decimal = Field(sa_type=DecimalText)
    currency: str
    functional_amount: Decimal | None = Field(default=None, sa_type=DecimalText)
    functional_currency: str | None = None
    customer_id: str | None = Field(default=None, index=True)
    memo: str = ""


class Schedule(ErpTable, table=True):
    """A revenue schedule (status active, ended or reversed)."""

    __tablename__ = "revenue_schedules"

    id: int | None = Field(default=None, primary_key=True)
    document_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("documents.id"), unique=True, nullable=False))
    schedule_id: str = Field(unique=True)
    legal_entity: str = Field(index=True)
    customer_id: str
    subscription_id: str | None = None
    invoice_id: str
    line_id: str
    method: str
    service_start: dt.date
    service_end: dt.date
    currency: str
    total: Decimal = Field(sa_type=DecimalText)
    status: str = "active"
    ended_on: dt.date | None = None
    # v2: foreign-currency schedules (booking rate, functional total).
    functional_currency: str | None = None
    rate: Decimal | None = Field(default=None, sa_type=DecimalText)
    functional_total: Decimal | None = Field(default=None, sa_type=DecimalText)


class Period(ErpTable, table=True):
    """One period of a schedule (open, recognised or cancelled) and what recognised it."""

    __tablename__ = "revenue_periods"
    __table_args__ = (UniqueConstraint("schedule_pk", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("revenue_schedules.id"), index=True,
                         nullable=False))
    period: str
    period_start: dt.date
    period_end: dt.date
    amount: Decimal = Field(sa_type=DecimalText)
    # The amount before a ScheduleEnd cut or cancelled the period.
    original_amount: Decimal = Field(sa_type=DecimalText)
    status: str = "open"
    ended_by: str | None = None  # external id of the ScheduleEnd that changed it
    recognised_entry_id: str | None = None  # external id of the recognition journal
    recognised_document_id: str | None = None
    recognised_amount: Decimal | None = Field(default=None, sa_type=DecimalText)
    # v2: functional amounts of foreign-currency schedules.
    functional_amount: Decimal | None = Field(default=None, sa_type=DecimalText)
    original_functional_amount: Decimal | None = Field(default=None, sa_type=DecimalText)


class PeriodLock(ErpTable, table=True):
    """A closed accounting period of one legal entity (v2)."""

    __tablename__ = "period_locks"
    __table_args__ = (UniqueConstraint("legal_entity", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    legal_entity: str
    period: str
    locked_at: dt.datetime = Field(sa_type=UtcDateTime)
    correlation_id: str | None = None


class SchemaVersion(ErpTable, table=True):
    """Applied schema migrations (adapters/sandbox/erp_migrations.py)."""

    __tablename__ = "schema_migrations"

    version: int = Field(primary_key=True)
    name: str
    applied_at: dt.datetime = Field(sa_type=UtcDateTime)


# Document number prefixes by posting kind (reversals without a journal get REV).
PREFIXES: dict[str, str] = {
    "customer": "CUS", "contract": "CTR", "invoice": "INV", "credit_memo": "CM",
    "schedule": "SCH", "schedule_end": "SCE", "payment": "PAY", "journal": "JE",
    "reversal": "JE", "reversal_nojournal": "REV",
}
