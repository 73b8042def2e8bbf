"""RenewalFlow's states, transitions, input and result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.billing import Invoice
    from canonical.customer import CustomerAccount
    from canonical.proration import ServiceLine
    from canonical.subscription import Subscription

from .config import FlowConfig
from .flow import AuditRecord


class RenewalState(StrEnum):
    STARTED = "Started"
    WAITING_FOR_RENEWAL_WINDOW = "WaitingForRenewalWindow"
    CHECKING_CRM = "CheckingCrm"
    WAITING_FOR_TERM_START = "WaitingForTermStart"
    POSTING_CONTRACT = "PostingContract"
    POSTING_INVOICE = "PostingInvoice"
    AWAITING_ERP_CONFIRMATION = "AwaitingErpConfirmation"
    RENEWED = "Renewed"
    WAITING_FOR_TERM_END = "WaitingForTermEnd"
    ENDING_TERM = "EndingTerm"
    ENDED = "Ended"
    WITHDRAWN = "Withdrawn"
    COMPENSATING = "Compensating"
    COMPENSATED = "Compensated"
    SKIPPED = "Skipped"


S = RenewalState
TRANSITIONS: dict[RenewalState, frozenset[RenewalState]] = {
    S.STARTED: frozenset({S.WAITING_FOR_RENEWAL_WINDOW}),
    S.WAITING_FOR_RENEWAL_WINDOW: frozenset({S.CHECKING_CRM, S.WITHDRAWN}),
    S.CHECKING_CRM: frozenset({S.WAITING_FOR_TERM_START, S.WAITING_FOR_TERM_END, S.SKIPPED}),
    S.WAITING_FOR_TERM_START: frozenset({S.POSTING_CONTRACT, S.WITHDRAWN}),
    S.POSTING_CONTRACT: frozenset({S.POSTING_INVOICE, S.COMPENSATING, S.SKIPPED}),
    S.POSTING_INVOICE: frozenset({S.AWAITING_ERP_CONFIRMATION, S.COMPENSATING, S.RENEWED,
                                  S.SKIPPED}),
    S.AWAITING_ERP_CONFIRMATION: frozenset({S.RENEWED, S.COMPENSATING, S.SKIPPED}),
    S.WAITING_FOR_TERM_END: frozenset({S.ENDING_TERM, S.WITHDRAWN}),
    S.ENDING_TERM: frozenset({S.ENDED, S.SKIPPED}),
    S.COMPENSATING: frozenset({S.COMPENSATED}),
    S.COMPENSATED: frozenset({S.POSTING_CONTRACT}),
}


class RenewalInput(BaseModel):
    subscription: Subscription  # the term that ends
    customer: CustomerAccount
    number: int  # this is the n-th renewal of the subscription
    contract_external_id: str | None = None  # the ending term's contract
    correlation_id: str
    config: FlowConfig


class RenewalResult(BaseModel):
    flow: str = "renewal"
    state: RenewalState
    number: int
    term: Subscription | None = None  # the new term when renewed
    invoice: Invoice | None = None  # with its tax
    invoice_rate: Decimal | None = None  # its booking rate (foreign currency only)
    new_lines: list[ServiceLine] = []
    contract_external_id: str | None = None
    ended_on: dt.date | None = None  # when opted out
    documents: list[str] = []
    compensations: list[str] = []
    reason: str | None = None
    audit: list[AuditRecord] = []
