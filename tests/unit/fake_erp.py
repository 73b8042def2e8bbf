"""FakeErp: the ERP port in memory, idempotent by external id like the sandbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypeVar

from adapters.erp.port import (
    ErpReceipt,
    OpenRevenuePeriod,
    PeriodLock,
    Posting,
    ReceiptStatus,
    ScheduleEnd,
    SchedulePosting,
)
from canonical.errors import CashloopError, NotFoundError, RejectedError, UnavailableError
from canonical.ledger import JournalEntry, Side
from canonical.money import Money, round_amount

P = TypeVar("P")

_PREFIX = {"customer": "CUS", "contract": "CTR", "invoice": "INV", "credit_memo": "CM",
           "schedule": "SCH", "schedule_end": "SCE", "payment": "PAY", "journal": "JE"}


class FakeErp:
    """Idempotent by external id, like the sandbox; reversals mirror journal entries."""

    def __init__(self, name: str = "erp-fake") -> None:
        self.name = name
        self.documents: dict[str, Posting] = {}
        self.receipts: dict[str, ErpReceipt] = {}
        self.reversals: dict[str, str] = {}  # reversal id -> reversed external id
        self.calls = 0
        self.fail_kinds: dict[str, CashloopError] = {}
        self.locks: set[tuple[str, str]] = set()
        self.fail_ids: dict[str, CashloopError] = {}  # external id -> error of its posting
        # external id -> calls answered "unavailable" (transient) before it is taken
        self.unavailable: dict[str, int] = {}
        self.fail_cancel: dict[str, CashloopError] = {}  # contract external id -> error
        self.pending_kinds: set[str] = set()  # answered pending until confirm() is called

    def document(self, external_id: str, kind: type[P]) -> P:
        """The posting of `external_id`, which the test expects to be a `kind`."""
        found = self.documents[external_id]
        assert isinstance(found, kind), found
        return found

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        self.calls += 1
        result = []
        for p in postings:
            if p.kind in self.fail_kinds:
                raise self.fail_kinds[p.kind]
            if p.external_id in self.fail_ids:
                raise self.fail_ids[p.external_id]
            if self.unavailable.get(p.external_id, 0) > 0:
                self.unavailable[p.external_id] -= 1
                raise UnavailableError(f"{p.external_id}: ERP unavailable", system="erp")
            if p.external_id in self.receipts:
                result.append(self.receipts[p.external_id].model_copy(update={"duplicate": True}))
                continue
            number = sum(1 for d in self.documents.values() if d.kind == p.kind) + 1
            status = (ReceiptStatus.PENDING if p.kind in self.pending_kinds
                      else ReceiptStatus.POSTED)
            receipt = ErpReceipt(external_id=p.external_id,
                                 document_id=f"{_PREFIX[p.kind]}-{number:06d}",
                                 status=status, erp=self.name,
                                 amount=self._released(p) if isinstance(p, ScheduleEnd)
                                 else None)
            self.documents[p.external_id] = p
            self.receipts[p.external_id] = receipt
            result.append(receipt)
        return result

    def _released(self, end: ScheduleEnd) -> Money:
        """What the sandbox ERP answers: the unrecognised revenue from `end_on` on."""
        posting = next((d for d in self.documents.values() if isinstance(d, SchedulePosting)
                        and d.schedule.schedule_id == end.schedule_id), None)
        if posting is None:
            raise RejectedError(f"unknown schedule {end.schedule_id}", system="erp")
        sched, released = posting.schedule, Decimal(0)
        for p in sched.periods:
            if p.start >= end.end_on:
                released += p.amount.amount
            elif p.end > end.end_on:
                kept = round_amount(p.amount.amount * (end.end_on - p.start).days
                                    / (p.end - p.start).days, p.amount.currency)
                released += p.amount.amount - kept
        return Money(amount=released, currency=sched.total.currency)

    def confirm(self) -> None:
        """The ERP confirms every pending document."""
        for key, receipt in self.receipts.items():
            if receipt.status == ReceiptStatus.PENDING:
                self.receipts[key] = receipt.model_copy(update={"status": ReceiptStatus.POSTED})

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        if reversal_external_id in self.receipts:
            return self.receipts[reversal_external_id].model_copy(update={"duplicate": True})
        if external_id not in self.receipts:
            raise NotFoundError(f"{external_id} unknown", system="erp")
        if external_id in self.reversals.values():
            raise RejectedError(f"{external_id} is already reversed", system="erp")
        receipt = ErpReceipt(external_id=reversal_external_id,
                             document_id=f"REV-{len(self.reversals) + 1:06d}",
                             status=ReceiptStatus.POSTED, erp=self.name)
        self.reversals[reversal_external_id] = external_id
        self.receipts[reversal_external_id] = receipt
        self.receipts[external_id] = self.receipts[external_id].model_copy(
            update={"status": ReceiptStatus.REVERSED})
        return receipt

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        if external_id in self.fail_cancel:
            raise self.fail_cancel[external_id]
        if external_id not in self.receipts:
            raise NotFoundError(f"{external_id} unknown", system="erp")
        receipt = self.receipts[external_id].model_copy(update={"status": "cancelled"})
        self.receipts[external_id] = receipt
        return receipt

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        if external_id not in self.receipts:
            raise NotFoundError(f"{external_id} unknown", system="erp")
        return self.receipts[external_id]

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        return []

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        duplicate = (legal_entity, period) in self.locks
        self.locks.add((legal_entity, period))
        return PeriodLock(legal_entity=legal_entity, period=period, erp=self.name,
                          locked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), duplicate=duplicate)

    def kinds(self) -> list[str]:
        return [p.kind for p in self.documents.values()]

    def entries(self) -> list[JournalEntry]:
        """Every booked journal, with the mirror entry of each reversed one."""
        booked = [p.entry for p in self.documents.values() if hasattr(p, "entry")]
        for reversal_id, original in self.reversals.items():
            posting = self.documents[original]
            entry = getattr(posting, "entry", None)
            if entry is not None:
                swap = {Side.DEBIT: Side.CREDIT, Side.CREDIT: Side.DEBIT}
                booked.append(entry.model_copy(update={
                    "external_id": reversal_id, "source_type": "reversal",
                    "lines": [ln.model_copy(update={"side": swap[ln.side]})
                              for ln in entry.lines]}))
        return booked

    def balances(self) -> dict[str, Decimal]:
        """Debit-positive balance per account over every entry."""
        result: dict[str, Decimal] = {}
        for entry in self.entries():
            for ln in entry.lines:
                sign = 1 if ln.side == Side.DEBIT else -1
                result[ln.account] = result.get(ln.account, Decimal(0)) + sign * ln.amount.amount
        return {k: v for k, v in sorted(result.items()) if v != 0}
