"""Revenue schedules in a sub-ledger, the journals they book in the general ledger of record.

NetSuite without Advanced Revenue Management has no place for Cashloop's revenue
schedules, their early ends, or what a period close still has to recognise. This target
keeps those in a sandbox ERP acting as Cashloop's revenue sub-ledger and books every
journal of the revenue domain (the recognition journals a close posts) in both: the
sub-ledger, which marks the periods recognised, and the ledger of record (NetSuite), so
its books carry revenue and deferred revenue to the cent. The sub-ledger's own general
ledger is then a copy of those journals, not books to report from.
"""

from __future__ import annotations

import contextlib

from canonical.errors import NotFoundError

from .port import ErpPort, ErpReceipt, JournalPosting, OpenRevenuePeriod, PeriodLock, Posting
from .routing import Domain


class RevenueSubledger:
    """`ErpPort` for the revenue domain: `subledger` keeps the schedules, `ledger` the books.

    Both calls are idempotent by external id, so a retry after either failed posts what
    is missing and answers the rest as duplicates.
    """

    domains = frozenset({Domain.REVENUE})

    def __init__(self, name: str, *, subledger: ErpPort, ledger: ErpPort) -> None:
        self.name = name
        self._subledger = subledger
        self._ledger = ledger

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        """The sub-ledger's receipts, once the journals among the postings are in the ledger."""
        receipts = await self._subledger.post(postings, correlation_id=correlation_id)
        journals: list[Posting] = [p for p in postings if isinstance(p, JournalPosting)]
        if journals:
            booked = {r.external_id: r for r in
                      await self._ledger.post(journals, correlation_id=correlation_id)}
            receipts = [r.model_copy(update={"note": _booked_note(r, booked[r.external_id])})
                        if r.external_id in booked else r for r in receipts]
        return receipts

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        """Reverse in the sub-ledger, and in the ledger where it holds the document (a
        journal; schedules and their ends are the sub-ledger's alone)."""
        receipt = await self._subledger.reverse(
            external_id, reversal_external_id=reversal_external_id, reason=reason,
            correlation_id=correlation_id)
        with contextlib.suppress(NotFoundError):  # not a document the ledger holds
            await self._ledger.reverse(external_id, reversal_external_id=reversal_external_id,
                                       reason=reason, correlation_id=correlation_id)
        return receipt

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        return await self._subledger.cancel_contract(external_id, reason=reason,
                                                     correlation_id=correlation_id)

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        return await self._subledger.get_receipt(external_id, correlation_id=correlation_id)

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        return await self._subledger.open_revenue_periods(legal_entity, through,
                                                          correlation_id=correlation_id)

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        """Locked in the sub-ledger once the ledger of record has it locked."""
        await self._ledger.lock_period(legal_entity, period, correlation_id=correlation_id)
        return await self._subledger.lock_period(legal_entity, period,
                                                 correlation_id=correlation_id)


def _booked_note(sub: ErpReceipt, gl: ErpReceipt) -> str:
    moved = f", moved to {gl.posted_period}" if gl.posted_period else ""
    return "; ".join(n for n in (sub.note, f"booked in {gl.erp} as {gl.document_id}{moved}")
                     if n)
