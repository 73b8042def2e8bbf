"""Provisioning activities; `revoke_entitlements` is the compensation of `grant_entitlements`."""

from __future__ import annotations

from temporalio import activity

from adapters.provisioning.port import EntitlementChange, Entitlements, ProvisioningPort

from .errors import translated_errors
from .io import EntitlementInput


class ProvisioningActivities:
    def __init__(self, provisioning: ProvisioningPort) -> None:
        self._p = provisioning

    @activity.defn
    async def grant_entitlements(self, req: EntitlementInput) -> Entitlements:
        change = EntitlementChange(subscription_id=req.subscription_id,
                                   customer_id=req.customer_id, skus=req.skus)
        with translated_errors():
            return await self._p.grant(change, correlation_id=req.correlation_id)

    @activity.defn
    async def suspend_entitlements(self, req: EntitlementInput) -> Entitlements:
        with translated_errors():
            return await self._p.suspend(req.subscription_id, correlation_id=req.correlation_id)

    @activity.defn
    async def restore_entitlements(self, req: EntitlementInput) -> Entitlements:
        with translated_errors():
            return await self._p.restore(req.subscription_id, correlation_id=req.correlation_id)

    @activity.defn
    async def revoke_entitlements(self, req: EntitlementInput) -> Entitlements:
        with translated_errors():
            return await self._p.revoke(req.subscription_id, correlation_id=req.correlation_id)
