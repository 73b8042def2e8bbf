"""Payments collected, payment failures and refunds."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from .base import Canonical, EntityCode, Id
from .money import Money


class Payment(Canonical):
    """Cash collected against an invoice; `fee` is what the gateway kept."""

    payment_id: Id
    invoice_id: Id
    customer_id: Id
    legal_entity: EntityCode
    amount: Money
    fee: Money | None = None
    received_on: dt.date
    method: str = "card"
    gateway_reference: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Payment:
        if self.amount.amount <= 0:
            raise ValueError("payment amount must be positive")
        if self.fee is not None and self.fee.currency != self.amount.currency:
            raise ValueError("fee must be in the payment's currency")
        return self


class PaymentFailure(Canonical):
    payment_id: Id
    invoice_id: Id
    customer_id: Id
    amount: Money
    failure_code: str
    failure_message: str = ""
    attempt: int = Field(default=1, ge=1)
    failed_on: dt.date


class Refund(Canonical):
    refund_id: Id
    payment_id: Id
    invoice_id: Id | None = None
    customer_id: Id
    legal_entity: EntityCode
    amount: Money
    refunded_on: dt.date
    reason: str = ""

    @model_validator(mode="after")
    def _check(self) -> Refund:
        if self.amount.amount <= 0:
            raise ValueError("refund amount must be positive")
        return self
