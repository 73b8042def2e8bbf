"""The tax engine port."""

from __future__ import annotations

from typing import Protocol

from canonical.billing import Invoice, TaxResult
from canonical.customer import Address


class TaxPort(Protocol):
    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        """Tax for every line of the invoice; idempotent by invoice id."""
        ...
