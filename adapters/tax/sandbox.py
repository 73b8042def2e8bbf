"""The tax port over the sandbox tax engine's HTTP API."""

from __future__ import annotations

import httpx

from adapters.http import call
from adapters.sandbox.client import parse
from canonical.billing import Invoice, TaxResult
from canonical.customer import Address
from canonical.money import Money

from .port import TaxNexus

SYSTEM = "tax"


class SandboxTaxAdapter:
    """`TaxPort` for the sandbox tax engine.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the tax engine's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        """Tax per invoice line; a repeat for the invoice id returns the first result."""
        response = await call(self._client, "POST", "/v1/tax/calculate", system=SYSTEM,
                              correlation_id=correlation_id,
                              json={"invoice": invoice.model_dump(mode="json"),
                                    "ship_to": ship_to.model_dump(mode="json")})
        return parse(response, TaxResult, SYSTEM)

    async def nexus(self, country: str, region: str | None = None, *,
                    correlation_id: str, address: Address | None = None) -> TaxNexus:
        """Nexus and rate for a country (and US state)."""
        params = {"country": country, **({"region": region} if region else {})}
        response = await call(self._client, "GET", "/v1/tax/nexus", system=SYSTEM,
                              correlation_id=correlation_id, params=params)
        return parse(response, TaxNexus, SYSTEM)

    async def quote(self, currency: str, ship_to: Address, lines: list[tuple[str, Money]], *,
                    correlation_id: str, legal_entity: str | None = None) -> TaxResult:
        """An unstored tax estimate for (line_id, net amount) lines."""
        response = await call(
            self._client, "POST", "/v1/tax/quote", system=SYSTEM,
            correlation_id=correlation_id,
            json={"currency": currency, "ship_to": ship_to.model_dump(mode="json"),
                  "lines": [{"line_id": line_id, "amount": str(amount.amount)}
                            for line_id, amount in lines]})
        return parse(response, TaxResult, SYSTEM)
