"""The payments port: collecting an open invoice through the payment gateway (dunning retries)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Protocol

from canonical.base import Canonical, EntityCode, Id
from canonical.money import Money
from canonical.payment import Payment


class CollectionRequest(Canonical):
    """One collection attempt; `attempt_id` is the gateway's idempotency key."""

    attempt_id: Id
    invoice_id: Id
    customer_id: Id
    subscription_id: Id | None = None
    legal_entity: EntityCode
    amount: Money
    # The business date the attempt stands for (the payment's received_on on success).
    attempted_on: dt.date


class CollectionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CollectionResult(Canonical):
    """The gateway's answer; the same attempt id always answers the same result."""

    attempt_id: str
    status: CollectionStatus
    payment: Payment | None = None  # set when succeeded
    failure_code: str | None = None
    failure_message: str = ""
    duplicate: bool = False


class PaymentsPort(Protocol):
    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        """Try to collect; a declined attempt is a FAILED result, not an error."""
        ...
