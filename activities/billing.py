"""Billing-system activities: what Cashloop tells the system that bills (a ladder's close)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.billing.port import BillingPort, UpstreamClose
from canonical.base import Canonical

from .errors import translated_errors


class CloseUpstreamInput(Canonical):
    invoice_id: str
    subscription_id: str
    reason: str
    correlation_id: str


class BillingActivities:
    def __init__(self, billing: BillingPort | None) -> None:
        self._billing = billing

    @activity.defn
    async def close_unpaid_upstream(self, req: CloseUpstreamInput) -> UpstreamClose:
        if self._billing is None:
            raise ApplicationError("no billing-system connector is configured for this "
                                   "worker (CASHLOOP_BILLING_CONNECTOR)",
                                   type="billing.not_configured", non_retryable=True)
        with translated_errors():
            return await self._billing.close_unpaid(
                req.invoice_id, req.subscription_id, reason=req.reason,
                correlation_id=req.correlation_id)
