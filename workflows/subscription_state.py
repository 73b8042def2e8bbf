"""State of the subscription entity: the enum, its transitions, and the carried snapshot."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.customer import CustomerAccount
    from canonical.events import Event
    from canonical.money import Money
    from canonical.proration import ServiceLine
    from canonical.subscription import Amendment, Subscription, SubscriptionItem

from .config import FlowConfig
from .flow import AuditRecord, ChildProgress


class SubscriptionState(StrEnum):
    PENDING_ACTIVATION = "PendingActivation"
    ACTIVATING = "Activating"
    ACTIVE = "Active"
    ACTIVATION_SKIPPED = "ActivationSkipped"
    AMENDING = "Amending"
    PAST_DUE = "PastDue"  # a dunning ladder runs
    CANCELLING = "Cancelling"  # a cancellation waits for its effective date
    CANCELLED = "Cancelled"
    ENDED = "Ended"  # the term ended without renewal (opt-out)


S = SubscriptionState
TRANSITIONS: dict[SubscriptionState, frozenset[SubscriptionState]] = {
    S.PENDING_ACTIVATION: frozenset({S.ACTIVATING}),
    S.ACTIVATING: frozenset({S.ACTIVE, S.ACTIVATION_SKIPPED}),
    S.ACTIVATION_SKIPPED: frozenset({S.ACTIVATING}),
    S.ACTIVE: frozenset({S.AMENDING, S.PAST_DUE, S.CANCELLING, S.CANCELLED, S.ENDED}),
    S.AMENDING: frozenset({S.ACTIVE, S.PAST_DUE}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.AMENDING, S.CANCELLING, S.CANCELLED, S.ENDED}),
    S.CANCELLING: frozenset({S.CANCELLED, S.ACTIVE, S.PAST_DUE}),
    S.CANCELLED: frozenset(),
    S.ENDED: frozenset(),
}
# States in which the subscription exists in the systems of record (documents post).
LIVE = frozenset({S.ACTIVE, S.AMENDING, S.PAST_DUE, S.CANCELLING, S.CANCELLED, S.ENDED})


class InvoiceStatus(StrEnum):
    POSTED = "posted"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    SKIPPED = "skipped"
    WRITTEN_OFF = "written_off"
    VOIDED = "voided"


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
    # What moved a foreign invoice's receivable, in its currency (the invoice +, payments
    # and credits -, refunds and reversals +), each booked converted on its own, so the
    # payment or write-off that settles it relieves exactly what is left in the
    # functional currency; started afresh once it is settled (nothing is left then).
    # None: not known (views from before it was kept, carried-over payments).
    movements: list[Decimal] | None = None

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

    def _relieved(self, view: InvoiceView, amount: Money) -> InvoiceView:
        if self.movements is None:
            return view
        settled = view.open_amount.is_zero() and not self.open_amount.is_zero()
        return view.model_copy(update={
            "movements": [] if settled else [*self.movements, -amount.amount]})

    def with_payment(self, payment_id: str, amount: Money) -> InvoiceView:
        """Apply a payment (positive) or a refund (negative)."""
        return self._relieved(self._settled(
            paid=self.paid + amount, payments=[*self.payments, payment_id]), amount)

    def with_credit(self, amount: Money) -> InvoiceView:
        return self._relieved(self._settled(credited=self.credited + amount), amount)

    def reopened(self, amount: Money, before: list[Decimal] | None) -> InvoiceView:
        """A write-off of `amount` reversed: the reversal re-opens exactly the functional
        receivable the write-off relieved — what the movements `before` it left — so they
        are the movements again (not the write-off's amount converted on its own)."""
        view = self.with_credit(-amount)
        if before is None or view.movements is None:
            return view
        return view.model_copy(update={"movements": list(before)})

    def carrying_payments(self, reversed_view: InvoiceView) -> InvoiceView:
        """This invoice, issued again, with the payments of its reversed issue."""
        return self._settled(paid=self.paid + reversed_view.paid,
                             payments=[*reversed_view.payments, *self.payments],
                             movements=None)  # relieved on the reversed issue's books

    def voided(self, credited: Money) -> InvoiceView:
        """Reversed in the ERP: the reversal, not a movement, relieved its receivable."""
        return self.model_copy(update={"credited": credited, "status": InvoiceStatus.VOIDED,
                                       "movements": None})

    def settled_by(self, amount: Money | None = None) -> list[Decimal] | None:
        """The receivable's movements when a payment of `amount` (default: all that is
        open) settles this foreign invoice; None when it does not, or they are unknown."""
        if self.rate is None or self.movements is None or (
                amount is not None and amount != self.open_amount):
            return None
        return self.movements


class CancellationRequest(BaseModel):
    """`request_cancellation`: end of term (default), immediately, or on a date."""

    request_id: str
    when: Literal["end_of_term", "immediately"] = "end_of_term"
    effective_on: dt.date | None = None  # overrides `when`
    reason: str = "customer_request"
    # Credit the unused service after the effective date (pro rata by days).
    prorate: bool = False


class CancellationQuote(BaseModel):
    """The answer of `request_cancellation`."""

    request_id: str
    effective_on: dt.date
    open_balance: Money  # what the customer owes now
    credit: Money  # the credit for unused service (gross), when prorated
    final_invoice_amount: Money  # open balance - credit (negative: owed to the customer)


class AppliedAmendment(BaseModel):
    """An applied amendment, kept so that a late, earlier one can reverse and re-apply it."""

    amendment: Amendment
    event_id: str
    correlation_id: str
    generation: int = 1
    items_before: list[SubscriptionItem]
    external_ids: list[str]  # what it posted, in order
    ended_lines: list[ServiceLine]  # the lines it credited, as they were before
    new_lines: list[ServiceLine]
    credited: dict[str, Money]
    rebill_id: str | None = None


class DeferredRelease(BaseModel):
    """What ending schedules released for a credit memo the billing system will send."""

    amount: Money | None = None
    functional: Money | None = None
    # The memo was posted before any amendment had released anything, so it reversed
    # revenue: an amendment billed upstream moves its release after it (upstream_first).
    released_nothing: bool = False
    # What the memo debited deferred revenue with when it posted after the amendment; the
    # amendment applied again behind a late one moves the difference (upstream_first).
    memo_posted: Money | None = None
    memo_posted_functional: Money | None = None


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
    # --- order-to-cash flows (issue 3); every field optional so old snapshots load ---
    lines: list[ServiceLine] = []  # service bought per invoice line (for proration)
    contract_external_id: str | None = None
    renewals: int = 0  # renewals done
    children: dict[str, ChildProgress] = {}  # running child flows by workflow id
    outcomes: list[ChildProgress] = []  # finished background flows not yet applied
    requests: list[CancellationRequest] = []  # accepted, not yet started
    written_off: dict[str, Money] = {}  # invoice id -> amount written off
    # invoice id -> its receivable's movements before the write-off that settled it: a
    # reversal of the write-off re-opens exactly what they left (InvoiceView.reopened)
    written_off_movements: dict[str, list[Decimal]] = {}
    applied: list[str] = []  # business keys applied besides invoices/payments (cm:..)
    amendments: dict[str, datetime] = {}  # applied amendment id -> effective_at
    amendment_log: list[AppliedAmendment] = []  # newest last, bounded
    # Upstream-billed amendments: credit memo id -> the deferral its schedules released.
    releases: dict[str, DeferredRelease] = {}
    cancellation_on: dt.date | None = None  # effective date of the cancellation started


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
    # True while the entity or a child flow is working (not merely waiting on a timer).
    busy: bool
    children: list[ChildProgress] = []
    # The earliest time a waiting child flow acts next (renewal window, dunning retry).
    next_action_at: datetime | None = None
    term_start: dt.date | None = None
    term_end: dt.date | None = None
    renewals: int = 0
