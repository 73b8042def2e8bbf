"""The ERP port: what Cashloop asks of a financial system of record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import Field

from canonical.base import Canonical
from canonical.billing import CreditMemo, Invoice
from canonical.customer import CustomerAccount
from canonical.errors import CashloopError
from canonical.ledger import JournalEntry
from canonical.money import Money
from canonical.payment import Payment
from canonical.revenue import RevenueSchedule
from canonical.subscription import Subscription


class CustomerUpsert(Canonical):
    kind: Literal["customer"] = "customer"
    external_id: str  # cust:{customer_id}
    customer: CustomerAccount


class ContractPosting(Canonical):
    kind: Literal["contract"] = "contract"
    external_id: str  # ctr:{subscription_id}[:{term_start}]
    subscription: Subscription


class InvoicePosting(Canonical):
    """An invoice with its journal entry (receivables domain)."""

    kind: Literal["invoice"] = "invoice"
    external_id: str  # inv:{invoice_id}
    invoice: Invoice
    entry: JournalEntry


class CreditMemoPosting(Canonical):
    kind: Literal["credit_memo"] = "credit_memo"
    external_id: str  # cm:{credit_memo_id}
    credit_memo: CreditMemo
    entry: JournalEntry


class SchedulePosting(Canonical):
    """A revenue schedule to recognise at period close (revenue domain)."""

    kind: Literal["schedule"] = "schedule"
    external_id: str  # sch:{schedule_id}
    schedule: RevenueSchedule


class ScheduleEnd(Canonical):
    """End a schedule early: periods from `end_on` on are no longer recognised.

    A period cut by `end_on` keeps only its share up to `end_on` (same method as the
    schedule); the unrecognised remainder was released by the credit memo's entry.
    """

    kind: Literal["schedule_end"] = "schedule_end"
    external_id: str  # sche:{schedule_id}:{reason_key}
    legal_entity: str
    schedule_id: str
    end_on: dt.date
    reason: str


class PaymentPosting(Canonical):
    kind: Literal["payment"] = "payment"
    external_id: str  # pay:{payment_id}
    payment: Payment
    entry: JournalEntry


class JournalPosting(Canonical):
    """A free-standing journal: refund, write-off, recognition, reversal, FX."""

    kind: Literal["journal"] = "journal"
    external_id: str
    entry: JournalEntry


Posting = Annotated[
    CustomerUpsert | ContractPosting | InvoicePosting | CreditMemoPosting | SchedulePosting
    | ScheduleEnd | PaymentPosting | JournalPosting,
    Field(discriminator="kind"),
]


class ReceiptStatus(StrEnum):
    POSTED = "posted"
    # Accepted but not yet confirmed by the ERP (asynchronous ERPs); poll `get_receipt`.
    PENDING = "pending"
    REVERSED = "reversed"
    CANCELLED = "cancelled"


class ErpReceipt(Canonical):
    """What the ERP answered for one posting; `duplicate` means it already had it."""

    external_id: str
    document_id: str  # the ERP's own number, e.g. INV-000042
    status: ReceiptStatus
    duplicate: bool = False
    erp: str = ""  # the ERP target that holds it
    # Set when the ERP moved the posting out of a locked period.
    posted_period: str | None = None
    note: str | None = None
    # For a schedule_end: the unrecognised revenue the cut released (what the credit
    # memo's Dr Deferred Revenue must be, so deferred revenue keeps tying to the schedules).
    amount: Money | None = None
    # The same in the legal entity's functional currency (foreign-currency schedules).
    functional_amount: Money | None = None


class OpenRevenuePeriod(Canonical):
    """A schedule period not recognised yet, as the ERP holds it (after any early end)."""

    schedule_id: str
    legal_entity: str
    customer_id: str
    period: str
    start: dt.date
    end: dt.date  # exclusive
    amount: Money
    functional_amount: Money | None = None
    rate: Decimal | None = None


class PeriodLock(Canonical):
    """A locked (closed) accounting period of one legal entity in one ERP."""

    legal_entity: str
    period: str
    locked_at: dt.datetime
    erp: str = ""
    duplicate: bool = False


class ErpPort(Protocol):
    """A financial system of record. Every call is idempotent by external id."""

    name: str

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        """Record postings; a posting whose external id exists returns its receipt as duplicate.

        The batch is not atomic: each posting succeeds or fails on its own, and a
        failure of any one raises (so a retry re-sends the whole batch, which is
        safe because every posting is idempotent).
        """
        ...

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        """Post the exact reversing entry of a document (saga compensation)."""
        ...

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        ...

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        """The current status of a document; raises NotFoundError if it is unknown."""
        ...

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        """Schedule periods up to `through` (YYYY-MM) with revenue still to recognise."""
        ...

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        """Close a period: later postings dated in it go to the first open period."""
        ...


def receipts_or_raise(outcomes: list[ErpReceipt | CashloopError]) -> list[ErpReceipt]:
    """A batch's receipts, or the error of its first failed posting (the port's `post`)."""
    for outcome in outcomes:
        if isinstance(outcome, CashloopError):
            raise outcome
    return [o for o in outcomes if isinstance(o, ErpReceipt)]
