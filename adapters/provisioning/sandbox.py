"""The provisioning port over the sandbox provisioning system's HTTP API."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from adapters.http import call
from adapters.sandbox.client import parse

from .port import EntitlementChange, Entitlements

SYSTEM = "provisioning"


def _path(subscription_id: str) -> str:
    return f"/v1/entitlements/{quote(subscription_id, safe='')}"


class SandboxProvisioningAdapter:
    """`ProvisioningPort` for the sandbox provisioning system.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the provisioning system's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _post(self, subscription_id: str, verb: str, correlation_id: str,
                    json: dict[str, object] | None = None) -> Entitlements:
        response = await call(self._client, "POST", f"{_path(subscription_id)}/{verb}",
                              system=SYSTEM, correlation_id=correlation_id, json=json)
        return parse(response, Entitlements, SYSTEM)

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements:
        """Entitle the skus (RejectedError if the subscription's entitlements are revoked)."""
        return await self._post(change.subscription_id, "grant", correlation_id,
                                {"customer_id": change.customer_id, "skus": change.skus})

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        """Suspend (idempotent); NotFoundError if never granted."""
        return await self._post(subscription_id, "suspend", correlation_id)

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        """Restore a suspension (idempotent); RejectedError if revoked."""
        return await self._post(subscription_id, "restore", correlation_id)

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        """Revoke for good (idempotent)."""
        return await self._post(subscription_id, "revoke", correlation_id)

    async def get(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        """Current entitlements; NotFoundError if never granted."""
        response = await call(self._client, "GET", _path(subscription_id), system=SYSTEM,
                              correlation_id=correlation_id)
        return parse(response, Entitlements, SYSTEM)
