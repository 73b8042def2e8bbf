"""DunningFlow's states, transitions and its input, signal and result types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.customer import CustomerAccount
    from canonical.money import Money
    from canonical.payment import Payment, PaymentFailure
    from canonical.proration import ServiceLine
    from canonical.subscription import Subscription

from .cancellation import CancellationResult
from .config import FlowConfig
from .flow import AuditRecord


class DunningState(StrEnum):
    STARTED = "Started"
    WAITING_TO_RETRY = "WaitingToRetry"
    RETRYING = "Retrying"
    SUSPENDING = "Suspending"
    RECOVERING = "Recovering"
    RECOVERED = "Recovered"
    CANCELLING = "Cancelling"
    WRITING_OFF = "WritingOff"
    WRITTEN_OFF = "WrittenOff"
    VOIDED = "Voided"  # the invoice was voided: nothing to collect


S = DunningState
# Workflow patch: a payment or void that arrives after the last attempt failed (during
# its notice) stops the ladder before the cancellation instead of cancelling.
PATCH_STOP_BEFORE_CANCEL = "dunning-stop-before-cancel"
# Workflow patch: the ladder reports its waits (and parking, and its end) to the entity,
# not the end of each wait. Each report cost a workflow task in both workflows (the
# signal, and its acknowledgement in the sender); the next wait or the end follows a
# retry within seconds, so the entity shows the retry's time until then.
PATCH_WAITS_ONLY = "dunning-reports-waits-only"
TRANSITIONS: dict[DunningState, frozenset[DunningState]] = {
    S.STARTED: frozenset({S.WAITING_TO_RETRY, S.RECOVERING}),
    S.WAITING_TO_RETRY: frozenset({S.RETRYING, S.RECOVERING, S.VOIDED}),
    S.RETRYING: frozenset({S.WAITING_TO_RETRY, S.SUSPENDING, S.CANCELLING, S.RECOVERING,
                           S.VOIDED}),
    S.SUSPENDING: frozenset({S.WAITING_TO_RETRY, S.CANCELLING, S.RECOVERING, S.VOIDED}),
    S.RECOVERING: frozenset({S.RECOVERED}),
    S.CANCELLING: frozenset({S.WRITING_OFF}),
    S.WRITING_OFF: frozenset({S.WRITTEN_OFF}),
}


class DunningInput(BaseModel):
    subscription: Subscription
    customer: CustomerAccount
    invoice_id: str
    amount_due: Money  # the invoice's open amount when dunning starts
    failure: PaymentFailure
    lines: list[ServiceLine]  # for the cancellation's credit of unused service
    contract_external_id: str | None = None
    event_id: str
    correlation_id: str
    config: FlowConfig
    # Booking rates of the entity's foreign-currency invoices: a collected retry relieves
    # the dunned invoice's receivable, and the write-off writes it off, at its rate.
    invoice_rates: dict[str, Decimal] = {}
    # What moved the dunned foreign invoice's receivable when dunning starts: a retry
    # collecting `amount_due`, or the write-off of what the cancellation left, settles it
    # (canonical.fx.settling_relief); each PaymentNotice brings them up to date.
    settles: list[Decimal] | None = None
    # The source of the failure event that started the ladder (docs/events.md `source`):
    # which billing system to tell of a write-off. None in ladders started before it was
    # kept.
    billed_by: str | None = None


class PaymentNotice(BaseModel):
    """From the entity: a payment was applied; `open_amount` is what is still due."""

    payment_id: str
    open_amount: Money
    # What moved the foreign receivable, the payment included (InvoiceView.settled_by);
    # None: not foreign, or not known (then dunning settles nothing exactly any more).
    movements: list[Decimal] | None = None


class DunningView(BaseModel):
    state: DunningState
    invoice_id: str
    attempt: int  # the attempt being waited for or made
    amount_due: Money
    next_action_at: dt.datetime | None
    suspended: bool


class DunningResult(BaseModel):
    flow: str = "dunning"
    state: DunningState
    invoice_id: str
    attempts: int
    payment: Payment | None = None  # collected by a retry (posted by this flow)
    paid_by: str | None = None  # payment id that ended the ladder
    written_off: Money | None = None
    cancellation: CancellationResult | None = None
    documents: list[str] = []
    audit: list[AuditRecord] = []


def middle(days: list[int]) -> int:
    """The attempt (0-based) after which entitlements are suspended."""
    return (len(days) - 1) // 2
