"""The event envelope and the typed payload of every current event type.

The wire format is documented in docs/events.md; older schema versions live in
`canonical.schemas` together with the upcasters that lift them to these.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from .base import Canonical, Id
from .billing import CreditMemo, Invoice
from .customer import CustomerAccount
from .payment import Payment, PaymentFailure, Refund
from .subscription import Amendment, Subscription


class BusinessKeys(Canonical):
    """The keys an event is about; the envelope fills in what its payload implies."""

    customer_id: Id | None = None
    subscription_id: Id | None = None
    amendment_id: Id | None = None
    invoice_id: Id | None = None
    credit_memo_id: Id | None = None
    payment_id: Id | None = None


# --- payloads -----------------------------------------------------------------------------


class SubscriptionActivated(Canonical):
    customer: CustomerAccount
    subscription: Subscription

    def implied_keys(self) -> dict[str, str | None]:
        return {"customer_id": self.customer.customer_id,
                "subscription_id": self.subscription.subscription_id}


class SubscriptionAmended(Canonical):
    amendment: Amendment

    def implied_keys(self) -> dict[str, str | None]:
        a = self.amendment
        return {"subscription_id": a.subscription_id, "amendment_id": a.amendment_id,
                "invoice_id": a.invoice_id, "credit_memo_id": a.credit_memo_id}


class SubscriptionCancelled(Canonical):
    subscription_id: Id
    effective_on: dt.date
    reason: str = ""
    # True: the scheduled cancellation on `effective_on` is withdrawn (the customer
    # reactivated before it took effect, e.g. Stripe's cancel_at_period_end set back).
    withdrawn: bool = False

    def implied_keys(self) -> dict[str, str | None]:
        return {"subscription_id": self.subscription_id}


class InvoiceIssued(Canonical):
    invoice: Invoice

    def implied_keys(self) -> dict[str, str | None]:
        i = self.invoice
        return {"customer_id": i.customer_id, "subscription_id": i.subscription_id,
                "invoice_id": i.invoice_id}


class InvoiceVoided(Canonical):
    invoice_id: Id
    voided_on: dt.date
    reason: str = ""

    def implied_keys(self) -> dict[str, str | None]:
        return {"invoice_id": self.invoice_id}


class CreditMemoIssued(Canonical):
    credit_memo: CreditMemo

    def implied_keys(self) -> dict[str, str | None]:
        c = self.credit_memo
        return {"customer_id": c.customer_id, "subscription_id": c.subscription_id,
                "invoice_id": c.invoice_id, "credit_memo_id": c.credit_memo_id}


class PaymentSucceeded(Canonical):
    payment: Payment

    def implied_keys(self) -> dict[str, str | None]:
        p = self.payment
        return {"customer_id": p.customer_id, "invoice_id": p.invoice_id,
                "payment_id": p.payment_id}


class PaymentFailed(Canonical):
    failure: PaymentFailure

    def implied_keys(self) -> dict[str, str | None]:
        f = self.failure
        return {"customer_id": f.customer_id, "invoice_id": f.invoice_id,
                "payment_id": f.payment_id}


class PaymentRefunded(Canonical):
    refund: Refund

    def implied_keys(self) -> dict[str, str | None]:
        r = self.refund
        return {"customer_id": r.customer_id, "invoice_id": r.invoice_id,
                "payment_id": r.payment_id}


# --- envelope -----------------------------------------------------------------------------


class EnvelopeBase(Canonical):
    """Fields every event carries, whatever its type."""

    CURRENT_VERSION: ClassVar[int] = 1

    event_id: Id
    if TYPE_CHECKING:  # _default_version fills it in, so whoever builds an event may omit it
        schema_version: int = Field(default=1, ge=1)
    else:
        schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    source: Id
    # Monotonic per subscription when the source has an order; None when it has none.
    sequence: int | None = Field(default=None, ge=1)
    correlation_id: Id
    keys: BusinessKeys = BusinessKeys()

    if TYPE_CHECKING:
        # Every event class declares these two fields (its Literal type and its payload
        # model); named here, for the type checker only, for code handling any event.
        @property
        def event_type(self) -> str: ...

        @property
        def payload(self) -> Any: ...

    @model_validator(mode="before")
    @classmethod
    def _default_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema_version" not in data:
            return {**data, "schema_version": cls.CURRENT_VERSION}
        return data

    @model_validator(mode="after")
    def _keys_agree_with_payload(self) -> EnvelopeBase:
        if self.schema_version != self.CURRENT_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not current "
                f"({self.CURRENT_VERSION}); parse through canonical.schemas.parse_event"
            )
        payload: Any = getattr(self, "payload")  # noqa: B009 - every subclass declares it
        merged = self.keys.model_dump()
        for name, value in payload.implied_keys().items():
            if value is None:
                continue
            if merged[name] is not None and merged[name] != value:
                raise ValueError(f"keys.{name}={merged[name]!r} but the payload says {value!r}")
            merged[name] = value
        if merged["subscription_id"] is None:
            raise ValueError("keys.subscription_id is required: events are routed by subscription")
        object.__setattr__(self, "keys", BusinessKeys(**merged))
        return self

    @property
    def subscription_id(self) -> str:
        assert self.keys.subscription_id is not None  # enforced by the validator
        return self.keys.subscription_id


class SubscriptionActivatedEvent(EnvelopeBase):
    event_type: Literal["subscription.activated"] = "subscription.activated"
    payload: SubscriptionActivated


class SubscriptionAmendedEvent(EnvelopeBase):
    event_type: Literal["subscription.amended"] = "subscription.amended"
    payload: SubscriptionAmended


class SubscriptionCancelledEvent(EnvelopeBase):
    event_type: Literal["subscription.cancelled"] = "subscription.cancelled"
    payload: SubscriptionCancelled


class InvoiceIssuedEvent(EnvelopeBase):
    event_type: Literal["invoice.issued"] = "invoice.issued"
    payload: InvoiceIssued


class InvoiceVoidedEvent(EnvelopeBase):
    event_type: Literal["invoice.voided"] = "invoice.voided"
    payload: InvoiceVoided


class CreditMemoIssuedEvent(EnvelopeBase):
    event_type: Literal["credit_memo.issued"] = "credit_memo.issued"
    payload: CreditMemoIssued


class PaymentSucceededEvent(EnvelopeBase):
    CURRENT_VERSION: ClassVar[int] = 2
    event_type: Literal["payment.succeeded"] = "payment.succeeded"
    payload: PaymentSucceeded


class PaymentFailedEvent(EnvelopeBase):
    event_type: Literal["payment.failed"] = "payment.failed"
    payload: PaymentFailed


class PaymentRefundedEvent(EnvelopeBase):
    event_type: Literal["payment.refunded"] = "payment.refunded"
    payload: PaymentRefunded


EVENT_CLASSES: tuple[type[EnvelopeBase], ...] = (
    SubscriptionActivatedEvent,
    SubscriptionAmendedEvent,
    SubscriptionCancelledEvent,
    InvoiceIssuedEvent,
    InvoiceVoidedEvent,
    CreditMemoIssuedEvent,
    PaymentSucceededEvent,
    PaymentFailedEvent,
    PaymentRefundedEvent,
)

Event = Annotated[
    SubscriptionActivatedEvent
    | SubscriptionAmendedEvent
    | SubscriptionCancelledEvent
    | InvoiceIssuedEvent
    | InvoiceVoidedEvent
    | CreditMemoIssuedEvent
    | PaymentSucceededEvent
    | PaymentFailedEvent
    | PaymentRefundedEvent,
    Field(discriminator="event_type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: dict[str, type[EnvelopeBase]] = {
    cls.model_fields["event_type"].default: cls for cls in EVENT_CLASSES
}
