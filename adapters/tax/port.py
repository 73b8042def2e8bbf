"""The tax engine port."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from canonical.billing import Invoice, TaxResult
from canonical.customer import Address
from canonical.money import Money


class TaxNexus(BaseModel):
    """Whether the company collects tax for a place, and at which rate."""

    model_config = ConfigDict(frozen=True)

    has_nexus: bool
    rate: Decimal
    jurisdiction: str


class TaxPort(Protocol):
    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        """Tax for every line of the invoice; idempotent by invoice id."""
        ...


class TaxQuoter(Protocol):
    """The gateway's synchronous tax answers (the validation API): nothing is recorded."""

    async def nexus(self, country: str, region: str | None = None, *, correlation_id: str,
                    address: Address | None = None) -> TaxNexus:
        """Whether (and at which rate) tax is collected for a place; `address`, when
        known, lets an engine that rates by address answer for it."""
        ...

    async def quote(self, currency: str, ship_to: Address, lines: list[tuple[str, Money]], *,
                    correlation_id: str, legal_entity: str | None = None) -> TaxResult:
        """An unstored estimate for (line_id, net amount) lines sold by `legal_entity`."""
        ...
