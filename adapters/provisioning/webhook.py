"""The provisioning port over the product's own endpoint: signed entitlement webhooks.

There is no provisioning vendor: entitlements live in the product Cashloop bills for. This
connector tells the product's backend over HTTPS, one POST per change, in a form its team
implements once (docs/connectors.md, *Provisioning webhooks*):

    POST {CASHLOOP_PROVISIONING_WEBHOOK_URL}
    Cashloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    {"id": <delivery id>, "type": "entitlements.grant" | ".suspend" | ".restore" | ".revoke",
     "subscription_id": ..., "customer_id": ..., "skus": [...]}

and the product answers 2xx with the entitlements as they now are
(`{"subscription_id", "status": "granted"|"suspended"|"revoked", "skus"}`), 404 when a
subscription was never granted, 409 when the change is refused (restoring a revoked
one). Every change is idempotent by state on the product's side (setting the status it
already has is success), which the retries of a workflow step rely on; the id names one
delivery (for the product's logs) and must not be used to drop a change: a subscription
suspended, restored and suspended again sends the same change twice, both meant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import ValidationError

from adapters.http import call
from canonical.errors import UnavailableError

from .port import EntitlementChange, Entitlements

SYSTEM = "provisioning"
SIGNATURE_HEADER = "Cashloop-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header of a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float,
           tolerance_s: float = 300.0) -> bool:
    """What the product checks: the signature is the body's, made within the tolerance
    (a replayed old request is refused). Constant-time comparison."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookProvisioningAdapter:
    """`ProvisioningPort` that POSTs signed entitlement changes to the product.

    Args:
        client: an `httpx.AsyncClient` (its base_url is not used: `url` is absolute).
        url: the product's endpoint.
        secret: the shared signing secret.
    """

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._url = url
        self._secret = secret
        self._clock = clock

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements:
        return await self._send("grant", change.subscription_id, correlation_id,
                                customer_id=change.customer_id, skus=change.skus)

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return await self._send("suspend", subscription_id, correlation_id)

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return await self._send("restore", subscription_id, correlation_id)

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return await self._send("revoke", subscription_id, correlation_id)

    async def _send(self, verb: str, subscription_id: str, correlation_id: str,
                    **fields: Any) -> Entitlements:
        body = json.dumps({"id": uuid.uuid4().hex, "type": f"entitlements.{verb}",
                           "subscription_id": subscription_id, **fields},
                          separators=(",", ":")).encode()
        response = await call(
            self._client, "POST", self._url, system=SYSTEM, correlation_id=correlation_id,
            content=body,
            headers={"Content-Type": "application/json",
                     SIGNATURE_HEADER: sign(self._secret, body, int(self._clock()))})
        try:
            return Entitlements.model_validate_json(response.content)
        except ValidationError as exc:
            raise UnavailableError(f"the product answered {verb} of {subscription_id} with "
                                   f"something that is not entitlements: "
                                   f"{response.text[:200]}", system=SYSTEM) from exc
