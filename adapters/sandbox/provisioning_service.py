"""The sandbox provisioning system: entitlements per subscription and their status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Field as DbField
from sqlmodel import Session, SQLModel

from adapters.provisioning.port import Entitlements, EntitlementStatus

from .common import SandboxError, new_app
from .db import UtcDateTime, create_tables, now_utc
from .faults import FaultSettings

S = EntitlementStatus


class ProvisioningTable(SQLModel, registry=registry()):
    """Base of the provisioning system's tables."""


class Entitlement(ProvisioningTable, table=True):
    """What one subscription entitles its customer to."""

    __tablename__ = "entitlements"

    subscription_id: str = DbField(primary_key=True)
    customer_id: str = DbField(index=True)
    status: str
    skus: list[str] = DbField(sa_column=Column(JSON, nullable=False))
    updated_at: dt.datetime = DbField(sa_type=UtcDateTime)


class GrantRequest(BaseModel):
    """Body of a grant: the customer and its skus."""

    customer_id: str = Field(min_length=1)
    skus: list[str]


def _model(row: Entitlement) -> Entitlements:
    return Entitlements(subscription_id=row.subscription_id, status=S(row.status),
                        skus=list(row.skus))


# status transitions: (current) -> new status, or None when the move is refused.
_SUSPEND = {S.GRANTED: S.SUSPENDED, S.SUSPENDED: S.SUSPENDED, S.REVOKED: None}
_RESTORE = {S.GRANTED: S.GRANTED, S.SUSPENDED: S.GRANTED, S.REVOKED: None}
_REVOKE = {S.GRANTED: S.REVOKED, S.SUSPENDED: S.REVOKED, S.REVOKED: S.REVOKED}


def create_provisioning_app(engine: Engine, faults: FaultSettings | None = None,
                            name: str = "provisioning") -> FastAPI:
    """The sandbox provisioning system over `engine` (tables created now)."""
    create_tables(engine, ProvisioningTable.metadata)
    app = new_app(name, faults)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    @app.post("/v1/entitlements/{subscription_id:path}/grant")
    def grant(subscription_id: str, req: GrantRequest) -> Entitlements:
        """Entitle the skus; a suspended subscription keeps its status, a revoked one is 409."""
        for _attempt in range(3):
            with session() as s:
                row = s.get(Entitlement, subscription_id)
                if row is None:
                    row = Entitlement(subscription_id=subscription_id, status=S.GRANTED.value,
                                      customer_id=req.customer_id, skus=[],
                                      updated_at=now_utc())
                elif row.status == S.REVOKED:
                    raise SandboxError(409, "revoked",
                                       f"entitlements of {subscription_id} are revoked")
                row.skus, row.customer_id = list(dict.fromkeys(req.skus)), req.customer_id
                row.updated_at = now_utc()
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:
                    continue  # a concurrent first grant won: apply ours over it
                return _model(row)
        raise SandboxError(503, "busy", f"{subscription_id} is being updated; retry")

    def transition(subscription_id: str, moves: Mapping[S, S | None], verb: str) -> Entitlements:
        with session() as s:
            row = s.get(Entitlement, subscription_id)
            if row is None:
                raise SandboxError(404, "not_found", f"no entitlements for {subscription_id}")
            target = moves[S(row.status)]
            if target is None:
                raise SandboxError(409, f"cannot_{verb}",
                                   f"cannot {verb} {subscription_id}: it is {row.status}")
            if target != row.status:
                row.status, row.updated_at = target.value, now_utc()
                s.add(row)
                s.commit()
            return _model(row)

    def route(verb: str, moves: Mapping[S, S | None]) -> Callable[[str], Entitlements]:
        def handler(subscription_id: str) -> Entitlements:
            return transition(subscription_id, moves, verb)

        handler.__name__ = verb
        return handler

    app.post("/v1/entitlements/{subscription_id:path}/suspend")(route("suspend", _SUSPEND))
    app.post("/v1/entitlements/{subscription_id:path}/restore")(route("restore", _RESTORE))
    app.post("/v1/entitlements/{subscription_id:path}/revoke")(route("revoke", _REVOKE))

    @app.get("/v1/entitlements/{subscription_id:path}")
    def get_entitlements(subscription_id: str) -> Entitlements:
        """Current entitlements; 404 if never granted."""
        with session() as s:
            row = s.get(Entitlement, subscription_id)
            if row is None:
                raise SandboxError(404, "not_found", f"no entitlements for {subscription_id}")
            return _model(row)

    return app
