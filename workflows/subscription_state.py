"""State of the subscription entity: the enum, its transitions, and the carried snapshot."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.customer import CustomerAccount
    from canonical.events import Event
    from canonical.money import Money
    from canonical.subscription import Subscription

from .config import FlowConfig
from .flow import AuditRecord


class SubscriptionState(StrEnum):
    PENDING_ACTIVATION = "PendingActivation"
    ACTIVATING = "Activating"
    ACTIVE = "Active"
    ACTIVATION_SKIPPED = "ActivationSkipped"


S = SubscriptionState
TRANSITIONS: dict[SubscriptionState, frozenset[SubscriptionState]] = {
    S.PENDING_ACTIVATION: frozenset({S.ACTIVATING}),
    S.ACTIVATING: frozenset({S.ACTIVE, S.ACTIVATION_SKIPPED}),
    S.ACTIVATION_SKIPPED: frozenset({S.ACTIVATING}),
    S.ACTIVE: frozenset(),
}


class InvoiceStatus(StrEnum):
    POSTED = "posted"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    SKIPPED = "skipped"


class InvoiceView(BaseModel):
    """What the entity knows of one of its invoices; `paid` is net of refunds."""

    invoice_id: str
    total: Money
    paid: Money
    credited: Money
    status: InvoiceStatus
    erp_document_id: str | None = None
    payments: list[str] = []
    # Booking rate of a foreign-currency invoice (functional units per invoice unit):
    # payments and credits relieve its receivable at this rate.
    rate: Decimal | None = None

    @property
    def open_amount(self) -> Money:
        return self.total - self.paid - self.credited

    def _settled(self, **update: object) -> InvoiceView:
        view = self.model_copy(update=update)
        if view.open_amount.amount <= 0:
            return view.model_copy(update={"status": InvoiceStatus.PAID})
        if not view.paid.is_zero():
            return view.model_copy(update={"status": InvoiceStatus.PARTIALLY_PAID})
        return view.model_copy(update={"status": InvoiceStatus.POSTED})

    def with_payment(self, payment_id: str, amount: Money) -> InvoiceView:
        """Apply a payment (positive) or a refund (negative)."""
        return self._settled(paid=self.paid + amount, payments=[*self.payments, payment_id])

    def with_credit(self, amount: Money) -> InvoiceView:
        return self._settled(credited=self.credited + amount)


class Finding(BaseModel):
    """Something an operator should know that did not stop the flow (e.g. a sequence gap)."""

    kind: str  # SequenceGap, LateEvent, IllegalEvent, ...
    at: datetime
    event_id: str | None = None
    detail: str


class SubscriptionSnapshot(BaseModel):
    """Everything the entity carries across continue-as-new."""

    state: SubscriptionState = S.PENDING_ACTIVATION
    customer: CustomerAccount | None = None
    subscription: Subscription | None = None
    correlation_id: str | None = None
    references: dict[str, str] = {}
    # Dedup window, oldest first; bounded by FlowConfig.seen_event_ids_max.
    seen_event_ids: list[str] = []
    last_sequence: int = 0
    gap_since: datetime | None = None
    # Received but not yet applied: out of sequence, or waiting for a precondition.
    inbox: list[Event] = []
    invoices: dict[str, InvoiceView] = {}
    findings: list[Finding] = []
    audit: list[AuditRecord] = []
    events_applied: int = 0


class SubscriptionInput(BaseModel):
    subscription_id: str
    config: FlowConfig = Field(default_factory=FlowConfig)
    snapshot: SubscriptionSnapshot | None = None


class PendingEvent(BaseModel):
    event_id: str
    event_type: str
    sequence: int | None
    waiting_for: str


class SubscriptionView(BaseModel):
    """The answer of the `state` query."""

    subscription_id: str
    state: SubscriptionState
    customer_id: str | None
    legal_entity: str | None
    last_sequence: int
    events_applied: int
    amount_due: dict[str, Decimal]
    invoices: list[InvoiceView]
    pending: list[PendingEvent]
    findings: list[Finding]
    references: dict[str, str]
    parked: bool
    # True while the entity is working on something (a flow, a posting, a timer ladder).
    busy: bool
