"""The provisioning port: entitlements in the product."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from canonical.base import Canonical


class EntitlementStatus(StrEnum):
    GRANTED = "granted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class EntitlementChange(Canonical):
    subscription_id: str
    customer_id: str
    skus: list[str]


class Entitlements(Canonical):
    subscription_id: str
    status: EntitlementStatus
    skus: list[str]


class ProvisioningPort(Protocol):
    """Every call is idempotent: setting the status it already has is success."""

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements: ...

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements: ...

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements: ...

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements: ...
