"""The rate port over the sandbox rate service's HTTP API."""

from __future__ import annotations

import datetime as dt

import httpx

from adapters.http import call
from adapters.sandbox.client import parse
from canonical.fx import ExchangeRate

SYSTEM = "rates"


class SandboxRatesAdapter:
    """`RatePort` of the sandbox rate table.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the rate sandbox's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        """The rate valid on `on` (the latest effective on or before that day)."""
        response = await call(self._client, "GET", f"/v1/rates/{base}/{quote}", system=SYSTEM,
                              correlation_id=correlation_id, params={"on": on.isoformat()})
        return parse(response, ExchangeRate, SYSTEM)
