"""CRM activities."""

from __future__ import annotations

from temporalio import activity

from adapters.crm.port import CrmPort, CustomerValidation

from .errors import translated_errors
from .io import ValidateCustomerInput


class CrmActivities:
    def __init__(self, crm: CrmPort) -> None:
        self._crm = crm

    @activity.defn
    async def validate_customer(self, req: ValidateCustomerInput) -> CustomerValidation:
        with translated_errors():
            return await self._crm.validate_customer(req.customer,
                                                     correlation_id=req.correlation_id)
