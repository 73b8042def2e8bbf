"""Invoices and credit memos with their lines and the tax engine's result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from .base import Canonical, EntityCode, Id
from .money import CurrencyCode, Money, total


class LineKind(StrEnum):
    RECURRING = "recurring"
    USAGE = "usage"
    PRORATION = "proration"


class InvoiceLine(Canonical):
    """A net (tax-exclusive) line; recurring and proration lines carry a service period."""

    line_id: Id
    kind: LineKind
    description: str
    sku: str | None = None
    plan_code: str | None = None
    quantity: Decimal = Decimal(1)
    amount: Money
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive
    tax_code: str = "SAAS"

    @model_validator(mode="after")
    def _period(self) -> InvoiceLine:
        if self.kind != LineKind.USAGE and (self.period_start is None or self.period_end is None):
            raise ValueError(f"{self.kind} line {self.line_id} needs period_start and period_end")
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            raise ValueError(f"line {self.line_id}: period_end must be after period_start")
        return self


class TaxLine(Canonical):
    line_id: Id
    jurisdiction: str
    rate: Decimal
    taxable: Money
    amount: Money


class TaxResult(Canonical):
    """What the tax engine answered, kept with the invoice for audit."""

    provider: str
    calculation_id: str
    lines: list[TaxLine]
    total: Money
    calculated_at: AwareDatetime


class BillingReason(StrEnum):
    SUBSCRIPTION_CREATE = "subscription_create"
    SUBSCRIPTION_CYCLE = "subscription_cycle"
    SUBSCRIPTION_UPDATE = "subscription_update"
    RENEWAL = "renewal"
    MANUAL = "manual"


class Invoice(Canonical):
    invoice_id: Id
    customer_id: Id
    subscription_id: Id | None = None
    legal_entity: EntityCode
    currency: CurrencyCode
    issued_on: dt.date
    due_on: dt.date
    lines: list[InvoiceLine] = Field(min_length=1)
    billing_reason: BillingReason = BillingReason.SUBSCRIPTION_CYCLE
    # Tax the billing platform already computed; when absent the tax engine is asked.
    tax: TaxResult | None = None

    @model_validator(mode="after")
    def _currency(self) -> Invoice:
        for line in self.lines:
            if line.amount.currency != self.currency:
                raise ValueError(f"line {line.line_id} is in {line.amount.currency}, "
                                 f"invoice in {self.currency}")
        return self

    @property
    def subtotal(self) -> Money:
        return total((line.amount for line in self.lines), self.currency)

    @property
    def tax_total(self) -> Money:
        return self.tax.total if self.tax else Money.zero(self.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.tax_total


class CreditMemoLine(Canonical):
    """A credit of part of an invoice line; `period_*` is the unused service period credited."""

    line_id: Id
    description: str
    amount: Money  # net, positive
    tax_amount: Money
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    # The revenue schedule whose unrecognised part this credit releases.
    schedule_id: str | None = None
    # The invoice whose line this credits, when it is not the memo's `invoice_id` (a
    # memo may credit lines of several invoices); in a foreign currency each part is
    # converted at its own invoice's booking rate.
    invoice_id: Id | None = None


class CreditMemo(Canonical):
    credit_memo_id: Id
    customer_id: Id
    subscription_id: Id | None = None
    invoice_id: Id | None = None
    legal_entity: EntityCode
    currency: CurrencyCode
    issued_on: dt.date
    reason: str
    lines: list[CreditMemoLine] = Field(min_length=1)

    @property
    def subtotal(self) -> Money:
        return total((line.amount for line in self.lines), self.currency)

    @property
    def tax_total(self) -> Money:
        return total((line.tax_amount for line in self.lines), self.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.tax_total
