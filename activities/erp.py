"""ERP activities; they run on the ERP task queue, which is throttled to the ERP's limit."""

from __future__ import annotations

from temporalio import activity

from adapters.erp.port import ErpReceipt
from adapters.erp.routing import ErpRouter

from .errors import translated_errors
from .io import ErpDocumentInput, PostToErpInput, ReverseErpDocumentInput


class ErpActivities:
    def __init__(self, router: ErpRouter) -> None:
        self._router = router

    @activity.defn
    async def post_to_erp(self, req: PostToErpInput) -> list[ErpReceipt]:
        erp = self._router.for_entity(req.legal_entity, req.domain)
        with translated_errors():
            return await erp.post(list(req.postings), correlation_id=req.correlation_id)

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
