"""The sandbox payment gateway: collection attempts whose outcome follows seeded rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import JSON, Column, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Field as DbField
from sqlmodel import Session, SQLModel, col, func, select

from adapters.payments.port import CollectionRequest, CollectionResult, CollectionStatus
from adapters.payments.sandbox import OutcomeRule
from canonical.money import Money, quantum
from canonical.payment import Payment

from .common import SandboxError, new_app, stable_hash
from .db import UtcDateTime, create_tables, now_utc
from .faults import FaultSettings

FEE_RATE = Decimal("0.029")  # a card processor's 2.9 % + 30 minor units
FEE_FIXED_MINOR = 30


class PaymentsTable(SQLModel, registry=registry()):
    """Base of the gateway's tables."""


class Rule(PaymentsTable, table=True):
    """An outcome rule per key (invoice:<id>, customer:<id> or *)."""

    __tablename__ = "outcome_rules"

    key: str = DbField(primary_key=True)
    fail_first: int = 0
    then: str = "succeed"
    failure_code: str = "card_declined"


class Attempt(PaymentsTable, table=True):
    """One collection attempt and the answer it got (repeated for a repeat)."""

    __tablename__ = "attempts"

    attempt_id: str = DbField(primary_key=True)
    invoice_id: str = DbField(index=True)
    customer_id: str = DbField(index=True)
    body_hash: str
    result: dict[str, Any] = DbField(sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = DbField(sa_type=UtcDateTime)


def fee_for(amount: Money) -> Money:
    """What the gateway keeps of a collected amount."""
    fixed = quantum(amount.currency) * FEE_FIXED_MINOR
    return Money.of(amount.amount * FEE_RATE + fixed, amount.currency)


def payment_id_for(attempt_id: str) -> str:
    return "py_" + attempt_id.replace(":", "_")


def _rule_json(r: Rule) -> dict[str, Any]:
    return {"key": r.key, "fail_first": r.fail_first, "then": r.then,
            "failure_code": r.failure_code}


def create_payments_app(engine: Engine, faults: FaultSettings | None = None,
                        name: str = "payments") -> FastAPI:
    """The sandbox payment gateway over `engine` (tables created now)."""
    create_tables(engine, PaymentsTable.metadata)
    app = new_app(name, faults)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    def decide(s: Session, req: CollectionRequest) -> CollectionResult:
        rule = (s.get(Rule, f"invoice:{req.invoice_id}") or s.get(Rule, f"customer:"
                f"{req.customer_id}") or s.get(Rule, "*") or Rule(key="*"))
        earlier = s.exec(select(func.count()).select_from(Attempt)
                         .where(Attempt.invoice_id == req.invoice_id)).one()
        succeed = earlier >= rule.fail_first and rule.then == "succeed"
        if not succeed:
            return CollectionResult(attempt_id=req.attempt_id, status=CollectionStatus.FAILED,
                                    failure_code=rule.failure_code,
                                    failure_message=f"attempt {earlier + 1} declined")
        payment = Payment(payment_id=payment_id_for(req.attempt_id), invoice_id=req.invoice_id,
                          customer_id=req.customer_id, legal_entity=req.legal_entity,
                          amount=req.amount, fee=fee_for(req.amount),
                          received_on=req.attempted_on, method="card",
                          gateway_reference=f"ch_{req.attempt_id}")
        return CollectionResult(attempt_id=req.attempt_id, status=CollectionStatus.SUCCEEDED,
                                payment=payment)

    @app.post("/v1/collections")
    def collect(req: CollectionRequest) -> CollectionResult:
        """Decide an attempt by the rules; a repeated attempt id answers the same result."""
        digest = stable_hash(req.model_dump(mode="json"))
        with session() as s:
            existing = s.get(Attempt, req.attempt_id)
            if existing is None:
                result = decide(s, req)
                s.add(Attempt(attempt_id=req.attempt_id, invoice_id=req.invoice_id,
                              customer_id=req.customer_id, body_hash=digest,
                              result=result.model_dump(mode="json"), created_at=now_utc()))
                try:
                    s.commit()
                    return result
                except IntegrityError:
                    s.rollback()
                    existing = s.get(Attempt, req.attempt_id)
            assert existing is not None
            if existing.body_hash != digest:
                raise SandboxError(409, "conflict",
                                   f"attempt {req.attempt_id} was made with a different body")
            return CollectionResult.model_validate({**existing.result, "duplicate": True})

    @app.get("/v1/collections")
    def collections(invoice_id: str | None = None) -> dict[str, Any]:
        """Attempts in the order they were made."""
        stmt = select(Attempt).order_by(col(Attempt.created_at), col(Attempt.attempt_id))
        if invoice_id:
            stmt = stmt.where(Attempt.invoice_id == invoice_id)
        with session() as s:
            return {"collections": [a.result for a in s.exec(stmt).all()]}

    @app.put("/_admin/outcomes/{key:path}")
    def put_outcome(key: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Set the outcome rule of a key."""
        try:
            rule = OutcomeRule.model_validate({**patch, "key": key})
        except ValueError as exc:
            raise SandboxError(422, "validation", str(exc)[:300]) from exc
        with session() as s:
            row = s.get(Rule, key) or Rule(key=key)
            row.fail_first, row.then, row.failure_code = (rule.fail_first, rule.then,
                                                          rule.failure_code)
            s.add(row)
            s.commit()
            return _rule_json(row)

    @app.get("/_admin/outcomes")
    def outcomes() -> dict[str, Any]:
        """Every outcome rule."""
        with session() as s:
            return {"rules": [_rule_json(r) for r in s.exec(select(Rule)).all()]}

    return app
