"""The payments port over the sandbox payment gateway's HTTP API, plus its admin API."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from adapters.http import call
from adapters.sandbox.client import SandboxAdminClient, parse

from .port import CollectionRequest, CollectionResult

SYSTEM = "payments"


class OutcomeRule(BaseModel):
    """How the sandbox gateway answers collections for one key.

    `key` is `invoice:<id>`, `customer:<id>` or `*` (the default); the first
    `fail_first` attempts for an invoice are declined, later ones end as `then`.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    fail_first: int = 0
    then: Literal["succeed", "fail"] = "succeed"
    failure_code: str = "card_declined"


class _Rules(BaseModel):
    rules: list[OutcomeRule]


class _Collections(BaseModel):
    collections: list[CollectionResult]


class SandboxPaymentsAdapter:
    """`PaymentsPort` for the sandbox payment gateway.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the gateway's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        """One attempt (idempotent by attempt id); a decline is a FAILED result."""
        response = await call(self._client, "POST", "/v1/collections", system=SYSTEM,
                              correlation_id=correlation_id,
                              json=request.model_dump(mode="json"))
        return parse(response, CollectionResult, SYSTEM)


class SandboxPaymentsAdmin(SandboxAdminClient):
    """Seeds the gateway's outcomes and reads its attempts (tests, demo)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, SYSTEM)

    async def set_outcome(self, key: str, **fields: Any) -> OutcomeRule:
        """Set the rule of `key` (`invoice:<id>`, `customer:<id>` or `*`)."""
        response = await self._call("PUT", f"/_admin/outcomes/{quote(key, safe='')}",
                                    json=fields)
        return parse(response, OutcomeRule, SYSTEM)

    async def outcomes(self) -> list[OutcomeRule]:
        return parse(await self._call("GET", "/_admin/outcomes"), _Rules, SYSTEM).rules

    async def collections(self, invoice_id: str | None = None) -> list[CollectionResult]:
        """Attempts in the order they were made."""
        params = {"invoice_id": invoice_id} if invoice_id else None
        response = await self._call("GET", "/v1/collections", params=params)
        return parse(response, _Collections, SYSTEM).collections
