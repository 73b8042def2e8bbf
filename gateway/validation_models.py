"""Request and response bodies of the synchronous validation API."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from canonical.billing import TaxLine
from canonical.customer import Address, CustomerAccount
from canonical.money import CurrencyCode, Money


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(BaseModel):
    """Why something is not valid (or only provisionally so)."""

    code: str = Field(description="stable machine-readable reason, e.g. wrong_legal_entity")
    message: str


class ValidateCustomerRequest(_Body):
    customer: CustomerAccount


class ValidateCustomerResponse(BaseModel):
    valid: bool
    provisional: bool = Field(description="true when the CRM was unavailable; a "
                                          "post-validation re-checks it later")
    customer_id: str
    crm_account_id: str | None = None
    legal_entity: str | None = None
    reasons: list[Reason] = []
    post_validation_id: int | None = None


class OrderLine(_Body):
    line_id: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(description="net amount as a decimal string")


class ValidateOrderRequest(_Body):
    customer: CustomerAccount
    currency: CurrencyCode
    lines: list[OrderLine] = Field(min_length=1, max_length=500)


class LegalEntityCheck(BaseModel):
    requested: str
    determined: str | None = Field(description="the entity that serves the customer's country")
    name: str | None = None
    ok: bool


class CreditCheck(BaseModel):
    ok: bool
    source: str = Field(description="crm, cache or fallback")
    detail: str = ""


class NexusCheck(BaseModel):
    has_nexus: bool
    rate: Decimal
    jurisdiction: str
    estimated_tax: Money | None = None
    source: str = Field(description="tax, cache or fallback")


class ValidateOrderResponse(BaseModel):
    valid: bool
    provisional: bool
    legal_entity: LegalEntityCheck
    credit: CreditCheck
    tax: NexusCheck | None = None
    reasons: list[Reason] = []
    post_validation_id: int | None = None


class QuoteLine(_Body):
    line_id: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(description="net amount as a decimal string")


class TaxQuoteRequest(_Body):
    currency: CurrencyCode
    ship_to: Address
    lines: list[QuoteLine] = Field(min_length=1, max_length=500)


class TaxQuoteResponse(BaseModel):
    provisional: bool
    provider: str
    lines: list[TaxLine]
    total: Money
    post_validation_id: int | None = None
