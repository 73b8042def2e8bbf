"""Inputs and results of activities (pydantic models, passed by the data converter)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from adapters.erp.port import OpenRevenuePeriod, Posting
from adapters.erp.routing import Domain
from canonical.billing import CreditMemo, Invoice, TaxResult
from canonical.customer import Address, CustomerAccount
from canonical.ledger import JournalEntry
from canonical.money import Money
from canonical.payment import Payment, Refund
from canonical.revenue import RevenueSchedule


class _Io(BaseModel):
    model_config = ConfigDict(frozen=True)


class ValidateCustomerInput(_Io):
    customer: CustomerAccount
    correlation_id: str


class CalculateTaxInput(_Io):
    invoice: Invoice
    ship_to: Address
    correlation_id: str


class PostToErpInput(_Io):
    legal_entity: str
    domain: Domain
    postings: list[Posting]
    correlation_id: str


class RoutedPostings(_Io):
    """Postings for one (legal entity, domain): one ERP target."""

    legal_entity: str
    domain: Domain
    postings: list[Posting]


class PostRoutedInput(_Io):
    """Several targets' postings in one activity, posted group after group in order."""

    groups: list[RoutedPostings]
    correlation_id: str


class ReverseErpDocumentInput(_Io):
    legal_entity: str
    domain: Domain
    external_id: str
    reversal_external_id: str
    reason: str
    correlation_id: str


class ErpDocumentInput(_Io):
    legal_entity: str
    domain: Domain
    external_id: str
    reason: str = ""
    correlation_id: str


class EntitlementInput(_Io):
    subscription_id: str
    customer_id: str
    skus: list[str] = []
    correlation_id: str


class InvoiceJournalInput(_Io):
    invoice: Invoice
    tax: TaxResult | None
    correlation_id: str


class InvoiceJournalResult(_Io):
    entry: JournalEntry
    schedules: list[RevenueSchedule]
    # The booking rate of a foreign-currency invoice (also `entry.rate`).
    rate: Decimal | None = None


class CreditMemoJournalInput(_Io):
    credit_memo: CreditMemo
    correlation_id: str
    # The unrecognised revenue released by ending the credited schedules (ERP receipt).
    deferred_release: Money | None = None
    # The same in the functional currency (ErpReceipt.functional_amount), foreign only.
    deferred_release_functional: Money | None = None
    # The credited invoice's booking rate (InvoiceView.rate), foreign currency only.
    invoice_rate: Decimal | None = None
    # Booking rates of every invoice the memo's lines credit (foreign currency only).
    invoice_rates: dict[str, Decimal] = {}
    # Per credited invoice the memo settles, what moved its receivable (InvoiceView
    # .movements): its part relieves exactly what is left in the functional currency.
    settles: dict[str, list[Decimal]] = {}


class PaymentJournalInput(_Io):
    payment: Payment
    correlation_id: str
    # The paid invoice's booking rate: receivables are relieved at it and the difference
    # to the payment date's rate is the realised FX gain or loss (foreign currency only).
    invoice_rate: Decimal | None = None
    # When the payment settles the invoice, what moved its receivable (the invoice +,
    # payments and credits -, refunds +): what is left of it in the functional currency
    # is relieved, rounding included (canonical.fx.settling_relief).
    settles: list[Decimal] | None = None


class RefundJournalInput(_Io):
    refund: Refund
    correlation_id: str
    # The refunded invoice's booking rate: the receivable is re-opened at it, as payments
    # relieved it, and the difference to the refund date's rate is realised FX.
    invoice_rate: Decimal | None = None


class WriteOffJournalInput(_Io):
    invoice_id: str
    amount: Money
    legal_entity: str
    customer_id: str
    posting_date: dt.date
    correlation_id: str
    invoice_rate: Decimal | None = None  # booking rate of the written-off invoice
    # What moved the invoice's receivable (as on PaymentJournalInput): what is left of it
    # in the functional currency is written off exactly (canonical.fx.settling_relief).
    settles: list[Decimal] | None = None


class MemoReleaseJournalInput(_Io):
    """The deferral an upstream-billed amendment released after its memo was posted."""

    credit_memo_id: str
    released: Money
    released_functional: Money | None = None
    legal_entity: str
    customer_id: str
    posting_date: dt.date
    correlation_id: str
    invoice_rate: Decimal | None = None  # booking rate of the credited invoice


class RecognitionJournalsInput(_Io):
    periods: list[OpenRevenuePeriod]
    correlation_id: str


class OpenRevenuePeriodsInput(_Io):
    legal_entity: str
    through: str  # YYYY-MM
    correlation_id: str


class LockPeriodInput(_Io):
    legal_entity: str
    domain: Domain
    period: str  # YYYY-MM
    correlation_id: str
