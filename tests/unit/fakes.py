"""In-memory doubles of the ports, for unit tests only (real systems are in tests/integration)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from adapters.crm.port import CrmAccount, CustomerNotice, CustomerValidation
from adapters.erp.port import (
    ErpReceipt,
    OpenRevenuePeriod,
    PeriodLock,
    Posting,
    ReceiptStatus,
    ScheduleEnd,
    SchedulePosting,
)
from adapters.payments.port import CollectionRequest, CollectionResult, CollectionStatus
from adapters.provisioning.port import EntitlementChange, Entitlements, EntitlementStatus
from canonical.billing import Invoice, TaxLine, TaxResult
from canonical.customer import Address, CustomerAccount
from canonical.errors import CashloopError, NotFoundError, RejectedError
from canonical.fx import ExchangeRate
from canonical.ledger import JournalEntry, Side
from canonical.money import Money, round_amount, total
from canonical.payment import Payment

_PREFIX = {"customer": "CUS", "contract": "CTR", "invoice": "INV", "credit_memo": "CM",
           "schedule": "SCH", "schedule_end": "SCE", "payment": "PAY", "journal": "JE"}


class FakeCrm:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_with: CashloopError | None = None
        self.accounts: dict[str, CrmAccount] = {}
        self.notices: list[CustomerNotice] = []

    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        self.calls.append(customer.customer_id)
        if self.fail_with:
            raise self.fail_with
        self.accounts.setdefault(customer.customer_id, CrmAccount(
            customer_id=customer.customer_id, crm_account_id=f"CRM-{customer.customer_id}"))
        return CustomerValidation(customer_id=customer.customer_id,
                                  crm_account_id=f"CRM-{customer.customer_id}",
                                  legal_entity=customer.legal_entity, valid=True)

    def set_account(self, customer_id: str, **fields: Any) -> None:
        """Seed renewal_opt_out / renewal_plan_changes."""
        current = self.accounts.get(customer_id) or CrmAccount(
            customer_id=customer_id, crm_account_id=f"CRM-{customer_id}")
        self.accounts[customer_id] = current.model_copy(update=fields)

    async def get_account(self, customer_id: str, *, correlation_id: str) -> CrmAccount:
        if customer_id not in self.accounts:
            raise NotFoundError(f"no account {customer_id}", system="crm")
        return self.accounts[customer_id]

    async def send_notice(self, notice_id: str, customer_id: str, kind: str, *,
                          correlation_id: str, subscription_id: str | None = None,
                          detail: Any = None) -> CustomerNotice:
        for n in self.notices:
            if n.notice_id == notice_id:
                return n.model_copy(update={"duplicate": True})
        notice = CustomerNotice(notice_id=notice_id, customer_id=customer_id,
                                subscription_id=subscription_id, kind=kind, detail=detail)
        self.notices.append(notice)
        return notice

    def kinds(self, subscription_id: str | None = None) -> list[str]:
        return [n.kind for n in self.notices
                if subscription_id is None or n.subscription_id == subscription_id]


class FakeTax:
    RATE = Decimal("0.10")

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        self.calls.append(invoice.invoice_id)
        lines = [TaxLine(line_id=ln.line_id, jurisdiction=ship_to.country, rate=self.RATE,
                         taxable=ln.amount,
                         amount=Money(amount=round_amount(ln.amount.amount * self.RATE,
                                                          invoice.currency),
                                      currency=invoice.currency))
                 for ln in invoice.lines]
        return TaxResult(provider="fake", calculation_id=f"TX-{invoice.invoice_id}", lines=lines,
                         total=total((t.amount for t in lines), invoice.currency),
                         calculated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


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
        self.fail_cancel: dict[str, CashloopError] = {}  # contract external id -> error
        self.pending_kinds: set[str] = set()  # answered pending until confirm() is called

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        self.calls += 1
        result = []
        for p in postings:
            if p.kind in self.fail_kinds:
                raise self.fail_kinds[p.kind]
            if p.external_id in self.fail_ids:
                raise self.fail_ids[p.external_id]
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


class FakeProvisioning:
    def __init__(self) -> None:
        self.status: dict[str, Entitlements] = {}
        self.fail_with: CashloopError | None = None  # for grant
        self.fail_on: dict[str, CashloopError] = {}  # status ("revoked", ...) -> error
        self.calls: list[str] = []

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements:
        self.calls.append("grant")
        if self.fail_with:
            raise self.fail_with
        e = Entitlements(subscription_id=change.subscription_id,
                         status=EntitlementStatus.GRANTED, skus=change.skus)
        self.status[change.subscription_id] = e
        return e

    def _set(self, subscription_id: str, status: EntitlementStatus) -> Entitlements:
        self.calls.append(status.value)
        if status.value in self.fail_on:
            raise self.fail_on[status.value]
        if subscription_id not in self.status:
            raise NotFoundError(f"no entitlements for {subscription_id}", system="provisioning")
        e = self.status[subscription_id].model_copy(update={"status": status})
        self.status[subscription_id] = e
        return e

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.SUSPENDED)

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.GRANTED)

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.REVOKED)


class FakeRates:
    """A rate table in memory: {(base, quote): rate}; an unknown pair is NotFound."""

    def __init__(self, table: dict[tuple[str, str], Decimal] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[tuple[str, str, dt.date]] = []

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        self.calls.append((base, quote, on))
        if (base, quote) not in self.table:
            raise NotFoundError(f"no rate {base}/{quote}", system="rates")
        return ExchangeRate(base=base, quote=quote, rate=self.table[(base, quote)],
                            effective_from=on, source="fake")


class FakePayments:
    """Declines the first `fail_first[invoice]` attempts of an invoice, then collects."""

    def __init__(self) -> None:
        self.fail_first: dict[str, int] = {}
        self.attempts: list[CollectionRequest] = []
        self._results: dict[str, CollectionResult] = {}

    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        if request.attempt_id in self._results:
            return self._results[request.attempt_id].model_copy(update={"duplicate": True})
        earlier = sum(1 for a in self.attempts if a.invoice_id == request.invoice_id)
        self.attempts.append(request)
        if earlier < self.fail_first.get(request.invoice_id, 0):
            result = CollectionResult(attempt_id=request.attempt_id,
                                      status=CollectionStatus.FAILED,
                                      failure_code="card_declined")
        else:
            result = CollectionResult(
                attempt_id=request.attempt_id, status=CollectionStatus.SUCCEEDED,
                payment=Payment(payment_id="py_" + request.attempt_id.replace(":", "_"),
                                invoice_id=request.invoice_id,
                                customer_id=request.customer_id,
                                legal_entity=request.legal_entity, amount=request.amount,
                                received_on=request.attempted_on))
        self._results[request.attempt_id] = result
        return result
