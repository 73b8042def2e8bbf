"""AmendmentFlow: a mid-term upgrade, downgrade or quantity change, billed as credit-and-rebill.

Order: end the old revenue schedules at the amendment date (ScheduleEnd; the ERP
answers the unrecognised revenue released) -> the credit memo for the unused part
(its journal releases exactly that deferral) -> the rebill invoice for the rest of
the billing period on the new items, with its new schedules. Each posting pushes its
reversal first; if a step fails for good the done steps are reversed newest first
and the flow parks (PostingStatus=compensated).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.proration import ProrateAmendmentInput
    from adapters.erp.port import ErpReceipt, Posting, ScheduleEnd
    from adapters.erp.routing import Domain
    from canonical.billing import CreditMemo, Invoice
    from canonical.customer import CustomerAccount
    from canonical.money import Money
    from canonical.proration import AmendmentProration, ServiceLine
    from canonical.subscription import Amendment, Subscription, SubscriptionItem

from . import search
from .calls import Calls
from .config import FlowConfig
from .flow import AuditRecord, Skipped
from .postings import (
    booking_rate,
    credit_memo_step,
    invoice_external_ids,
    invoice_postings,
    post_landed,
    push_reversals,
    released_by,
    taxed,
    utc_date,
)
from .saga import Compensated, Compensations, SagaFlow, generation_id


class AmendmentState(StrEnum):
    STARTED = "Started"
    PRORATING = "Prorating"
    ENDING_SCHEDULES = "EndingSchedules"
    POSTING_CREDIT_MEMO = "PostingCreditMemo"
    POSTING_REBILL = "PostingRebill"
    AMENDED = "Amended"
    COMPENSATING = "Compensating"
    COMPENSATED = "Compensated"
    SKIPPED = "Skipped"


S = AmendmentState
TRANSITIONS: dict[AmendmentState, frozenset[AmendmentState]] = {
    S.STARTED: frozenset({S.PRORATING}),
    S.PRORATING: frozenset({S.ENDING_SCHEDULES, S.POSTING_CREDIT_MEMO, S.POSTING_REBILL,
                            S.AMENDED, S.SKIPPED, S.COMPENSATING}),
    S.ENDING_SCHEDULES: frozenset({S.POSTING_CREDIT_MEMO, S.POSTING_REBILL, S.AMENDED,
                                   S.SKIPPED, S.COMPENSATING}),
    S.POSTING_CREDIT_MEMO: frozenset({S.POSTING_REBILL, S.AMENDED, S.SKIPPED,
                                      S.COMPENSATING}),
    S.POSTING_REBILL: frozenset({S.AMENDED, S.SKIPPED, S.COMPENSATING}),
    S.COMPENSATING: frozenset({S.COMPENSATED}),
    # An operator's retry after compensation starts a new generation.
    S.COMPENSATED: frozenset({S.PRORATING}),
}


class AmendmentInput(BaseModel):
    amendment: Amendment
    subscription: Subscription
    customer: CustomerAccount
    lines: list[ServiceLine]  # the entity's service lines (the ones covering the date count)
    event_id: str
    correlation_id: str
    config: FlowConfig
    # > 1 when re-applied after a reversal: document ids carry a `~{generation}` suffix.
    generation: int = 1
    # Booking rates of the entity's foreign-currency invoices: a credit is booked at
    # the rate of the invoice it credits (docs/accounting.md "Foreign currency").
    invoice_rates: dict[str, Decimal] = {}
    # What moved those receivables (ledger_view.invoice_movements): a credit memo that
    # settles one relieves exactly what is left of it.
    invoice_movements: dict[str, list[Decimal]] = {}


class AmendmentResult(BaseModel):
    state: AmendmentState
    amendment_id: str
    items: list[SubscriptionItem] = []
    credit_memo: CreditMemo | None = None
    credited: dict[str, Money] = {}  # gross credit per credited invoice
    rebill: Invoice | None = None  # with its tax
    rebill_rate: Decimal | None = None  # its booking rate (foreign currency only)
    ended_lines: list[ServiceLine] = []
    new_lines: list[ServiceLine] = []
    documents: list[str] = []
    external_ids: list[str] = []
    compensations: list[str] = []
    skipped_reason: str | None = None
    audit: list[AuditRecord] = []
    # Upstream-billed (Amendment.documents_upstream): what the ended schedules released,
    # for the billing system's credit memo to debit when it arrives.
    released: Money | None = None
    released_functional: Money | None = None


@workflow.defn
class AmendmentFlow(SagaFlow):
    FLOW = "amendment"
    TRANSITIONS = TRANSITIONS
    _state: AmendmentState  # (set by Flow._init_flow and _transition)
    COMPENSATING = S.COMPENSATING
    COMPENSATED = S.COMPENSATED
    POSTING = {S.AMENDED: search.PostingStatus.POSTED,
               S.COMPENSATED: search.PostingStatus.COMPENSATED}

    @workflow.init
    def __init__(self, input: AmendmentInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)
        self._input = input

    @workflow.query
    def state(self) -> AmendmentState:
        return self._state

    @workflow.run
    @search.flushed
    async def run(self, input: AmendmentInput) -> AmendmentResult:
        sub = input.subscription
        self._upsert_started(sub.customer_id, sub, input.correlation_id)
        outcome = await self._saga(self._attempt, input.generation)
        if isinstance(outcome, Compensated):
            result = AmendmentResult(state=S.COMPENSATED,
                                     amendment_id=input.amendment.amendment_id,
                                     compensations=outcome.compensations,
                                     skipped_reason=f"{outcome.reason} at {outcome.step}: "
                                                    f"{outcome.skipped_reason}")
        else:
            result = outcome
            status = (search.PostingStatus.POSTED if result.state == S.AMENDED
                      else search.PostingStatus.PENDING)
            self._upsert(search.POSTING_STATUS.value_set(status))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result.model_copy(update={"audit": list(self._audit)})

    def _amendment(self, corrected: dict[str, Any] | None) -> Amendment:
        """The amendment, with an operator's corrected fields on a retry."""
        original = self._input.amendment
        if not corrected:
            return original
        try:
            return Amendment.model_validate({**original.model_dump(), **corrected})
        except ValidationError as exc:
            self._record(str(self._state), note=f"corrected input rejected: {exc}"[:300])
            return original

    def _skipped(self, amendment: Amendment, outcome: Skipped) -> AmendmentResult:
        self._transition(S.SKIPPED, note=outcome.reason)
        return AmendmentResult(state=S.SKIPPED, amendment_id=amendment.amendment_id,
                               skipped_reason=outcome.reason)

    async def _attempt(self, saga: Compensations, gen: int,
                       corrected: dict[str, Any] | None) -> AmendmentResult:
        inp, calls, cid = self._input, self._calls, self._input.correlation_id
        amendment = self._amendment(corrected)
        sub = inp.subscription
        self._transition(S.PRORATING, event_id=inp.event_id, note=f"generation {gen}")
        proration = await self._step("prorate", lambda _: calls.prorate_amendment(
            ProrateAmendmentInput(amendment=amendment, subscription=sub, lines=inp.lines)),
            permanent="raise")
        if isinstance(proration, Skipped):
            return self._skipped(amendment, proration)
        assert isinstance(proration, AmendmentProration)
        docs: list[str] = []
        posted: list[str] = []

        def remember(receipts: dict[str, ErpReceipt]) -> list[str]:
            ids = [r.document_id for r in receipts.values()]
            docs.extend(ids)
            posted.extend(receipts)
            return ids

        credit = proration.credit
        day = utc_date(amendment.effective_at)
        why = f"amendment {amendment.amendment_id} undone"
        entity = sub.legal_entity
        ends: list[Posting] = [
            ScheduleEnd(external_id=generation_id(
                f"sche:{ln.schedule_id}:{amendment.amendment_id}", gen),
                legal_entity=entity, schedule_id=ln.schedule_id, end_on=day,
                reason=f"amendment {amendment.amendment_id}")
            for ln in (credit.ended_lines if credit else []) if ln.schedule_id]
        released: Money | None = None
        released_f: Money | None = None
        if ends:
            self._transition(S.ENDING_SCHEDULES)
            push_reversals(saga, calls, entity, [(Domain.REVENUE, e.external_id) for e in ends],
                           why, cid)
            receipts = await self._step("end_schedules",
                                        lambda _: post_landed(calls, saga, ends, cid),
                                        permanent="raise")
            if isinstance(receipts, Skipped):
                return self._skipped(amendment, receipts)
            self._record(str(self._state), documents=remember(receipts), note="schedules ended")
            released, released_f = released_by(receipts, sub.currency)

        if amendment.documents_upstream:
            # The billing system sends its own credit memo and rebill (posted by the
            # entity as documents): only the schedules end here.
            self._transition(S.AMENDED, event_id=inp.event_id, documents=docs,
                             note="credit memo and rebill come from the billing system")
            return AmendmentResult(
                state=S.AMENDED, amendment_id=amendment.amendment_id,
                items=amendment.new_items, documents=docs, external_ids=posted,
                ended_lines=list(credit.ended_lines) if credit else [],
                released=released, released_functional=released_f)

        memo = credit.credit_memo if credit else None
        if memo is not None:
            self._transition(S.POSTING_CREDIT_MEMO)
            post_memo = credit_memo_step(calls, saga, memo, gen, entity, why, cid, released,
                                         released_f, inp.invoice_rates,
                                         inp.invoice_movements)
            receipts = await self._step("post_credit_memo", post_memo, permanent="raise")
            if isinstance(receipts, Skipped):
                return self._skipped(amendment, receipts)
            self._record(str(self._state), documents=remember(receipts),
                         note=f"credit memo {memo.credit_memo_id} of {memo.total}")

        rebill, new_lines = proration.rebill, list(proration.rebill_lines)
        if rebill is not None:
            self._transition(S.POSTING_REBILL)
            # (the lambda runs before `rebill` is reassigned: still the checked invoice)
            taxed_rebill = await self._step("calculate_rebill_tax", lambda _: taxed(
                calls, cast(Invoice, rebill), inp.customer, cid), permanent="raise")
            if isinstance(taxed_rebill, Skipped):
                return self._skipped(amendment, taxed_rebill)
            rebill = taxed_rebill
            push_reversals(saga, calls, entity, invoice_external_ids(rebill, gen), why, cid)
            lines_out: list[ServiceLine] = []
            rates: list[Decimal | None] = [None]

            async def post_rebill(_: Any) -> dict[str, ErpReceipt]:
                assert rebill is not None
                postings, lines = await invoice_postings(calls, rebill, gen, cid)
                lines_out[:] = lines
                rates[:] = [booking_rate(postings)]
                return await post_landed(calls, saga, postings, cid)

            receipts = await self._step("post_rebill", post_rebill, permanent="raise")
            if isinstance(receipts, Skipped):
                return self._skipped(amendment, receipts)
            starts = {ln.line_id: ln.billing_start for ln in new_lines}
            new_lines = [ln.model_copy(update={"billing_start": starts[ln.line_id]})
                         for ln in lines_out]
            self._record(str(self._state), documents=remember(receipts),
                         note=f"rebill {rebill.invoice_id} of {rebill.total}")
            self._remember(search.INVOICE_IDS.value_set([rebill.invoice_id]),
                           search.INVOICE_POSTED_AT.value_set(workflow.now()))

        self._transition(S.AMENDED, event_id=inp.event_id, documents=docs)
        return AmendmentResult(
            state=S.AMENDED, amendment_id=amendment.amendment_id, items=amendment.new_items,
            credit_memo=memo, credited=dict(credit.by_invoice) if credit else {},
            rebill=rebill, rebill_rate=rates[0] if rebill is not None else None,
            ended_lines=list(credit.ended_lines) if credit else [],
            new_lines=new_lines, documents=docs, external_ids=posted)
