"""ERP activities; they run on the ERP task queue, which is throttled to the ERP's limit.

Workflows try the posting calls as local activities first (workflows/calls.py, `_erp`);
a local attempt that fails is never final: the ERP queue takes the call over.
"""

from __future__ import annotations

from temporalio import activity

from adapters.erp.port import ErpReceipt, OpenRevenuePeriod, PeriodLock
from adapters.erp.routing import Domain, ErpRouter

from .errors import translated_errors
from .io import (
    ErpDocumentInput,
    LockPeriodInput,
    OpenRevenuePeriodsInput,
    PostRoutedInput,
    PostToErpInput,
    ReverseErpDocumentInput,
)

# The calls workflows make locally before the ERP queue (their activity type names).
LOCAL_FIRST = frozenset({"post_to_erp", "post_routed", "reverse_erp_document",
                         "cancel_erp_contract", "get_erp_receipt"})


class ErpActivities:
    def __init__(self, router: ErpRouter) -> None:
        self._router = router

    @activity.defn
    async def post_to_erp(self, req: PostToErpInput) -> list[ErpReceipt]:
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.post(list(req.postings), correlation_id=req.correlation_id)

    @activity.defn
    async def post_routed(self, req: PostRoutedInput) -> list[ErpReceipt]:
        """Groups one after another, so an invoice is in its ERP before its payment.

        A retry re-posts the groups that landed; the ERP answers those as duplicates.
        """
        receipts: list[ErpReceipt] = []
        with translated_errors():
            for group in req.groups:
                erp = self._router.for_entity(group.legal_entity, group.domain)
                receipts += await erp.post(list(group.postings),
                                           correlation_id=req.correlation_id)
        return receipts

    @activity.defn
    async def reverse_erp_document(self, req: ReverseErpDocumentInput) -> ErpReceipt:
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.reverse(req.external_id, reversal_external_id=req.reversal_external_id,
                                     reason=req.reason, correlation_id=req.correlation_id)

    @activity.defn
    async def cancel_erp_contract(self, req: ErpDocumentInput) -> ErpReceipt:
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.cancel_contract(req.external_id, reason=req.reason,
                                             correlation_id=req.correlation_id)

    @activity.defn
    async def get_erp_receipt(self, req: ErpDocumentInput) -> ErpReceipt:
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.get_receipt(req.external_id, correlation_id=req.correlation_id)

    @activity.defn
    async def list_open_revenue_periods(self, req: OpenRevenuePeriodsInput
                                        ) -> list[OpenRevenuePeriod]:
        """Schedule periods through `req.through` still to recognise (revenue domain)."""
        erp = self._router.for_entity(req.legal_entity, Domain.REVENUE)
        with translated_errors():
            return await erp.open_revenue_periods(req.legal_entity, req.through,
                                                  correlation_id=req.correlation_id)

    @activity.defn
    async def lock_erp_period(self, req: LockPeriodInput) -> PeriodLock:
        """Lock a period in the ERP the entity's `req.domain` routes to (idempotent)."""
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.lock_period(req.legal_entity, req.period,
                                         correlation_id=req.correlation_id)
