"""A product backend taking Cashloop's signed entitlement webhooks (an httpx transport).

It does what docs/connectors.md asks of a product: verify the signature (with
adapters.provisioning.webhook.verify, as a Python product would), apply the change
idempotently by state, answer the entitlements, 404 for a subscription never granted,
409 for a change refused (granting or restoring a revoked subscription).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.provisioning.webhook import SIGNATURE_HEADER, verify

URL = "https://product.example/cashloop/entitlements"
SECRET = "whsec_product_test"
STATUS = {"grant": "granted", "suspend": "suspended", "restore": "granted",
          "revoke": "revoked"}


@dataclass
class FakeProduct:
    entitlements: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != urlsplit(URL).path or request.method != "POST":
            return httpx.Response(404, json={"detail": "no such endpoint"})
        if not verify(SECRET, request.headers.get(SIGNATURE_HEADER, ""), request.content,
                      now=time.time()):
            return httpx.Response(401, json={"detail": "bad signature"})
        change = json.loads(request.content)
        self.deliveries.append(change)
        verb = change["type"].removeprefix("entitlements.")
        sub = change["subscription_id"]
        current = self.entitlements.get(sub)
        if current is None and verb != "grant":
            return httpx.Response(404, json={"detail": f"{sub} was never granted"})
        if current is not None and current["status"] == "revoked" and verb in ("grant",
                                                                                "restore"):
            return httpx.Response(409, json={"detail": f"{sub} is revoked"})
        skus = change.get("skus", current["skus"] if current else [])
        self.entitlements[sub] = {"subscription_id": sub, "status": STATUS[verb], "skus": skus}
        return httpx.Response(200, json=self.entitlements[sub])
