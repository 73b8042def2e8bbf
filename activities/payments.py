"""Payment gateway activities (dunning's collection retries)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.payments.port import CollectionRequest, CollectionResult, PaymentsPort

from .errors import translated_errors


class CollectPaymentInput(CollectionRequest):
    correlation_id: str


class PaymentsActivities:
    def __init__(self, payments: PaymentsPort | None) -> None:
        self._payments = payments

    @activity.defn
    async def collect_payment(self, req: CollectPaymentInput) -> CollectionResult:
        if self._payments is None:
            raise ApplicationError("no payment gateway is configured for this worker",
                                   type="payments.not_configured", non_retryable=True)
        request = CollectionRequest.model_validate(req.model_dump(exclude={"correlation_id"}))
        with translated_errors():
            return await self._payments.collect(request, correlation_id=req.correlation_id)
