"""A small client of the gateway's intake API (used by `starter.py send --via gateway`,
`make demo` and the ingest benchmark)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from canonical.events import EnvelopeBase
from canonical.schemas import dump_event

from .signatures import sign

BATCH = 500


class GatewayError(Exception):
    """The gateway refused a request; `body` is its ErrorBody."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"gateway answered {status}: {body}")
        self.status = status
        self.body = body


class GatewayClient:
    def __init__(self, client: httpx.AsyncClient, api_key: str | None = None,
                 webhook_secret: str | None = None) -> None:
        self._client = client
        self._api_key = api_key
        self._secret = webhook_secret

    async def post_events(self, events: Sequence[EnvelopeBase | dict[str, Any]],
                          batch: int = BATCH) -> list[dict[str, Any]]:
        """POST /v1/events in order, `batch` envelopes per request; one result per event."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(events), batch):
            chunk = [e if isinstance(e, dict) else dump_event(e)
                     for e in events[start:start + batch]]
            response = await self._client.post(
                "/v1/events", content=json.dumps(chunk),
                headers={"X-API-Key": self._api_key or "",
                         "Content-Type": "application/json"})
            if response.status_code >= 300:
                raise GatewayError(response.status_code, response.json())
            results.extend(response.json()["results"])
        return results

    async def post_stripe(self, event: dict[str, Any] | bytes) -> dict[str, Any]:
        """POST one Stripe event, signed now with the webhook secret."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        response = await self._client.post(
            "/v1/webhooks/stripe", content=body,
            headers={"Stripe-Signature": sign(body, self._secret or ""),
                     "Content-Type": "application/json"})
        if response.status_code >= 300:
            raise GatewayError(response.status_code, response.json())
        return dict(response.json())
