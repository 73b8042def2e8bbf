"""CRM activities."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from adapters.crm.port import CrmPort, CustomerNotice, CustomerValidation
from canonical.renewal import RenewalTerms, terms_from_changes
from canonical.subscription import SubscriptionItem

from .errors import translated_errors
from .io import ValidateCustomerInput


class RenewalTermsInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    items: list[SubscriptionItem]  # the current items, which changes apply to
    correlation_id: str


class SendNoticeInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    notice_id: str
    customer_id: str
    subscription_id: str | None = None
    kind: str
    detail: Any = None
    correlation_id: str


class CrmActivities:
    def __init__(self, crm: CrmPort) -> None:
        self._crm = crm

    @activity.defn
    async def validate_customer(self, req: ValidateCustomerInput) -> CustomerValidation:
        with translated_errors():
            return await self._crm.validate_customer(req.customer,
                                                     correlation_id=req.correlation_id)

    @activity.defn
    async def renewal_terms(self, req: RenewalTermsInput) -> RenewalTerms:
        """CRM's renewal intent for a customer: opt-out, or changed items."""
        with translated_errors():
            account = await self._crm.get_account(req.customer_id,
                                                  correlation_id=req.correlation_id)
            return RenewalTerms(opt_out=account.renewal_opt_out,
                                items=terms_from_changes(account.renewal_plan_changes,
                                                         req.items))

    @activity.defn
    async def send_notice(self, req: SendNoticeInput) -> CustomerNotice:
        with translated_errors():
            return await self._crm.send_notice(
                req.notice_id, req.customer_id, req.kind, correlation_id=req.correlation_id,
                subscription_id=req.subscription_id, detail=req.detail)
