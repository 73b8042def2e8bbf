"""The sandbox CRM: customer validation against legal entities, renewal intent, notices."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Field as DbField
from sqlmodel import Session, SQLModel, col, select

from adapters.crm.port import CustomerValidation
from canonical.accounts import LegalEntity, serving_problem
from canonical.customer import CustomerAccount

from .common import SandboxError, new_app, stable_hash
from .db import UtcDateTime, create_tables, now_utc
from .faults import FaultSettings


class CrmTable(SQLModel, registry=registry()):
    """Base of the CRM's tables."""


class Account(CrmTable, table=True):
    """A CRM account: the customer as sales knows it, with its flags."""

    __tablename__ = "accounts"

    customer_id: str = DbField(primary_key=True)
    crm_account_id: str
    name: str | None = None
    legal_entity: str | None = None
    country: str | None = None
    blocked: bool = False
    renewal_opt_out: bool = False
    renewal_plan_changes: dict[str, Any] | None = DbField(default=None, sa_column=Column(JSON))
    updated_at: dt.datetime = DbField(sa_type=UtcDateTime)


class Notice(CrmTable, table=True):
    """A customer notice (dunning reminder, suspension warning, ...), once per notice id."""

    __tablename__ = "notices"

    notice_id: str = DbField(primary_key=True)
    customer_id: str = DbField(index=True)
    subscription_id: str | None = DbField(default=None, index=True)
    kind: str
    detail: Any = DbField(default=None, sa_column=Column(JSON))
    body_hash: str
    created_at: dt.datetime = DbField(sa_type=UtcDateTime)


class ValidateRequest(BaseModel):
    """Body of a validation: the customer as billing knows it."""

    customer: CustomerAccount


class AccountPatch(BaseModel):
    """Seed/admin fields of an account; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    blocked: bool | None = None
    crm_account_id: str | None = Field(default=None, min_length=1)
    renewal_opt_out: bool | None = None
    renewal_plan_changes: dict[str, Any] | None = None


class NoticeRequest(BaseModel):
    """A notice to a customer, idempotent by `notice_id`."""

    notice_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    subscription_id: str | None = None
    kind: str = Field(min_length=1)
    detail: Any = None


def crm_account_id_for(customer_id: str) -> str:
    """The CRM's own stable account id of a customer."""
    return "CRM-" + hashlib.sha256(customer_id.encode()).hexdigest()[:8].upper()


def _account_json(a: Account) -> dict[str, Any]:
    return {"customer_id": a.customer_id, "crm_account_id": a.crm_account_id,
            "name": a.name, "legal_entity": a.legal_entity, "country": a.country,
            "blocked": a.blocked, "renewal_opt_out": a.renewal_opt_out,
            "renewal_plan_changes": a.renewal_plan_changes,
            "updated_at": a.updated_at.isoformat()}


def _notice_json(n: Notice) -> dict[str, Any]:
    return {"notice_id": n.notice_id, "customer_id": n.customer_id,
            "subscription_id": n.subscription_id, "kind": n.kind, "detail": n.detail,
            "created_at": n.created_at.isoformat()}


def create_crm_app(engine: Engine, entities: Mapping[str, LegalEntity],
                   faults: FaultSettings | None = None, name: str = "crm") -> FastAPI:
    """The sandbox CRM over `engine` (tables created now)."""
    create_tables(engine, CrmTable.metadata)
    app = new_app(name, faults)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    def upsert(customer_id: str, change: Callable[[Account], None]) -> Account:
        """Create or update an account; a lost race on the first insert is retried."""
        for _attempt in range(3):
            with session() as s:
                account = s.get(Account, customer_id) or Account(
                    customer_id=customer_id, crm_account_id=crm_account_id_for(customer_id),
                    updated_at=now_utc())
                change(account)
                account.updated_at = now_utc()
                s.add(account)
                try:
                    s.commit()
                except IntegrityError:
                    continue  # a concurrent first upsert of this customer won; update it
                return account
        raise SandboxError(503, "busy", f"account {customer_id} is being updated; retry")

    @app.post("/v1/customers/validate")
    def validate(req: ValidateRequest) -> CustomerValidation:
        """Check legal entity, country and block; upsert the account."""
        c = req.customer
        problem = serving_problem(entities, c.legal_entity, c.country, c.customer_id)
        if problem is not None:
            raise SandboxError(422, *problem)

        def refresh(account: Account) -> None:
            account.name, account.legal_entity, account.country = (
                c.name, c.legal_entity, c.country)

        account = upsert(c.customer_id, refresh)
        if account.blocked:
            raise SandboxError(409, "blocked", f"account {c.customer_id} is blocked")
        return CustomerValidation(customer_id=c.customer_id,
                                  crm_account_id=account.crm_account_id,
                                  legal_entity=c.legal_entity, valid=True)

    @app.put("/v1/accounts/{customer_id:path}")
    def put_account(customer_id: str, patch: AccountPatch) -> dict[str, Any]:
        """Seed or change an account's flags (creates it if new)."""
        # An explicit null clears the plan changes; for the flags and the id it means
        # "leave as is" (they cannot be empty).
        fields = {k: v for k, v in patch.model_dump(exclude_unset=True).items()
                  if v is not None or k == "renewal_plan_changes"}

        def apply(account: Account) -> None:
            for field, value in fields.items():
                setattr(account, field, value)

        return _account_json(upsert(customer_id, apply))

    @app.get("/v1/accounts/{customer_id:path}")
    def get_account(customer_id: str) -> dict[str, Any]:
        """An account with its flags; 404 if never seen."""
        with session() as s:
            account = s.get(Account, customer_id)
            if account is None:
                raise SandboxError(404, "not_found", f"no account {customer_id}")
            return _account_json(account)

    @app.post("/v1/notices")
    def post_notice(req: NoticeRequest) -> dict[str, Any]:
        """Record a notice once; a repeat answers duplicate."""
        digest = stable_hash(req.model_dump(mode="json"))
        with session() as s:
            existing = s.get(Notice, req.notice_id)
            if existing is None:
                notice = Notice(**req.model_dump(), body_hash=digest, created_at=now_utc())
                s.add(notice)
                try:
                    s.commit()
                    return {**_notice_json(notice), "duplicate": False}
                except IntegrityError:
                    s.rollback()
                    existing = s.get(Notice, req.notice_id)
            assert existing is not None
            if existing.body_hash != digest:
                raise SandboxError(409, "conflict",
                                   f"notice {req.notice_id} was sent with a different body")
            return {**_notice_json(existing), "duplicate": True}

    @app.get("/v1/notices")
    def list_notices(subscription_id: str | None = None,
                     customer_id: str | None = None) -> dict[str, Any]:
        """Notices, oldest first, by subscription and/or customer."""
        stmt = select(Notice)
        if subscription_id:
            stmt = stmt.where(Notice.subscription_id == subscription_id)
        if customer_id:
            stmt = stmt.where(Notice.customer_id == customer_id)
        with session() as s:
            rows = s.exec(stmt.order_by(col(Notice.created_at), col(Notice.notice_id))).all()
            return {"notices": [_notice_json(n) for n in rows]}

    return app
