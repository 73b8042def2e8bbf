"""Tax engine activities."""

from __future__ import annotations

from temporalio import activity

from adapters.tax.port import TaxPort
from canonical.billing import TaxResult

from .errors import translated_errors
from .io import CalculateTaxInput


class TaxActivities:
    def __init__(self, tax: TaxPort) -> None:
        self._tax = tax

    @activity.defn
    async def calculate_tax(self, req: CalculateTaxInput) -> TaxResult:
        with translated_errors():
            return await self._tax.calculate(req.invoice, req.ship_to,
                                             correlation_id=req.correlation_id)
