"""CancellationFlow: end a subscription on its effective date.

Waits (a durable timer) until the effective date, then, when the cancellation credits
unused service (non-payment, or an immediate cancellation with proration), ends the
revenue schedules there and posts a credit memo for the unused part, exactly as an
amendment's credit does; then revokes the entitlements and cancels the ERP contract.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import EntitlementInput, ErpDocumentInput
    from adapters.erp.port import Posting, ScheduleEnd
    from adapters.erp.routing import Domain
    from canonical.billing import CreditMemo
    from canonical.customer import CustomerAccount
    from canonical.money import Money
    from canonical.proration import ServiceLine, unused_credit
    from canonical.subscription import ProrationBasis, Subscription

from . import search, versions
from .calls import Calls
from .config import FlowConfig
from .flow import AuditRecord, Skipped
from .postings import (
    credit_memo_step,
    midnight,
    post_landed,
    push_reversals,
    released_by,
    until,
)
from .saga import Compensated, Compensations, SagaFlow, generation_id


class CancellationState(StrEnum):
    STARTED = "Started"
    WAITING_FOR_EFFECTIVE_DATE = "WaitingForEffectiveDate"
    ENDING_SCHEDULES = "EndingSchedules"
    POSTING_CREDIT_MEMO = "PostingCreditMemo"
    REVOKING_ENTITLEMENTS = "RevokingEntitlements"
    CANCELLING_CONTRACT = "CancellingContract"
    CANCELLED = "Cancelled"
    WITHDRAWN = "Withdrawn"  # withdrawn before its effective date
    COMPENSATING = "Compensating"
    COMPENSATED = "Compensated"
    SKIPPED = "Skipped"


S = CancellationState
# Workflow patch: the wait for the effective date can be cut short by `withdraw`.
PATCH_WITHDRAWABLE = "cancellation-withdrawable"
_WORKING = frozenset({S.ENDING_SCHEDULES, S.POSTING_CREDIT_MEMO, S.REVOKING_ENTITLEMENTS,
                      S.CANCELLING_CONTRACT})
TRANSITIONS: dict[CancellationState, frozenset[CancellationState]] = {
    S.STARTED: frozenset({S.WAITING_FOR_EFFECTIVE_DATE}),
    S.WAITING_FOR_EFFECTIVE_DATE: _WORKING | {S.WITHDRAWN},
    S.ENDING_SCHEDULES: frozenset({S.POSTING_CREDIT_MEMO, S.REVOKING_ENTITLEMENTS,
                                   S.COMPENSATING, S.SKIPPED}),
    S.POSTING_CREDIT_MEMO: frozenset({S.REVOKING_ENTITLEMENTS, S.COMPENSATING, S.SKIPPED}),
    S.REVOKING_ENTITLEMENTS: frozenset({S.CANCELLING_CONTRACT, S.COMPENSATING, S.SKIPPED}),
    S.CANCELLING_CONTRACT: frozenset({S.CANCELLED, S.COMPENSATING, S.SKIPPED}),
    S.COMPENSATING: frozenset({S.COMPENSATED}),
    S.COMPENSATED: _WORKING,
}


class CancellationInput(BaseModel):
    subscription: Subscription
    customer: CustomerAccount
    effective_on: dt.date
    reason: str
    lines: list[ServiceLine]
    # Credit the unused service after the effective date (non-payment, immediate cancel).
    credit_unused: bool = False
    credit_memo_id: str
    contract_external_id: str | None = None
    event_id: str | None = None
    correlation_id: str
    config: FlowConfig
    # Booking rates of the entity's foreign-currency invoices: the credit of unused
    # service is booked at the rate of the invoice it credits.
    invoice_rates: dict[str, Decimal] = {}
    # What moved those receivables (ledger_view.invoice_movements): a credit memo that
    # settles one relieves exactly what is left of it.
    invoice_movements: dict[str, list[Decimal]] = {}


class CancellationResult(BaseModel):
    flow: str = "cancellation"
    state: CancellationState
    effective_on: dt.date
    credit_memo: CreditMemo | None = None
    credited: dict[str, Money] = {}
    ended_lines: list[ServiceLine] = []
    documents: list[str] = []
    compensations: list[str] = []
    skipped_reason: str | None = None
    audit: list[AuditRecord] = []


@workflow.defn
class CancellationFlow(SagaFlow):
    FLOW = "cancellation"
    TRANSITIONS = TRANSITIONS
    _state: CancellationState  # (set by Flow._init_flow and _transition)
    COMPENSATING = S.COMPENSATING
    COMPENSATED = S.COMPENSATED
    POSTING = {S.CANCELLED: search.PostingStatus.POSTED,
               S.COMPENSATED: search.PostingStatus.COMPENSATED}

    @workflow.init
    def __init__(self, input: CancellationInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)
        self._input = input
        self._withdrawn: str | None = None

    @workflow.signal
    def withdraw(self, reason: str) -> None:
        """The cancellation is called off (honoured while it waits for its date)."""
        self._withdrawn = reason or "withdrawn"

    @workflow.query
    def state(self) -> CancellationState:
        return self._state

    @workflow.run
    @search.flushed
    async def run(self, input: CancellationInput) -> CancellationResult:
        sub = input.subscription
        self._upsert_started(sub.customer_id, sub, input.correlation_id)
        at = midnight(input.effective_on)
        self._transition(S.WAITING_FOR_EFFECTIVE_DATE, event_id=input.event_id,
                         note=f"effective {input.effective_on}: {input.reason}")
        wait = until(at)
        if wait is not None:
            self._upsert(search.next_action(at))
            await self._notify_parent(waiting_until=at)
            if versions.patched(self._config, PATCH_WITHDRAWABLE):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._withdrawn is not None,
                                                  timeout=wait,
                                                  timeout_summary="cancellation effective date")
            else:
                await workflow.sleep(wait, summary="cancellation effective date")
            self._upsert(search.next_action(None))
            await self._notify_parent()
        if self._withdrawn is not None:
            self._transition(S.WITHDRAWN, note=self._withdrawn)
            result = CancellationResult(state=S.WITHDRAWN, effective_on=input.effective_on,
                                        skipped_reason=self._withdrawn,
                                        audit=list(self._audit))
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._notify_parent(finished=True, outcome=result.model_dump(mode="json"))
            return result
        outcome = await self._saga(self._attempt)
        if isinstance(outcome, Compensated):
            result = CancellationResult(state=S.COMPENSATED, effective_on=input.effective_on,
                                        compensations=outcome.compensations,
                                        skipped_reason=outcome.skipped_reason)
        else:
            result = outcome
            self._upsert(search.POSTING_STATUS.value_set(
                search.PostingStatus.POSTED))
        result = result.model_copy(update={"audit": list(self._audit)})
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notify_parent(finished=True, outcome=result.model_dump(mode="json"))
        return result

    def _skipped(self, outcome: Skipped) -> CancellationResult:
        self._transition(S.SKIPPED, note=outcome.reason)
        return CancellationResult(state=S.SKIPPED, effective_on=self._input.effective_on,
                                  skipped_reason=outcome.reason)

    async def _attempt(self, saga: Compensations, gen: int,
                       _corrected: dict[str, Any] | None) -> CancellationResult:
        inp, calls, cid = self._input, self._calls, self._input.correlation_id
        sub = inp.subscription
        entity = sub.legal_entity
        why = f"cancellation of {sub.subscription_id} undone"
        docs: list[str] = []
        credit = None
        if inp.credit_unused:
            credit = unused_credit(
                inp.lines, midnight(inp.effective_on), ProrationBasis.DAYS,
                credit_memo_id=inp.credit_memo_id, customer_id=sub.customer_id,
                subscription_id=sub.subscription_id, legal_entity=entity,
                currency=sub.currency, reason=f"cancellation: {inp.reason}")
        ends: list[Posting] = [
            ScheduleEnd(external_id=generation_id(f"sche:{ln.schedule_id}:cancel", gen),
                        legal_entity=entity, schedule_id=ln.schedule_id,
                        end_on=inp.effective_on, reason=f"cancellation: {inp.reason}")
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
                return self._skipped(receipts)
            docs += [r.document_id for r in receipts.values()]
            released, released_f = released_by(receipts, sub.currency)
        memo = credit.credit_memo if credit else None
        if memo is not None:
            self._transition(S.POSTING_CREDIT_MEMO)
            post_memo = credit_memo_step(calls, saga, memo, gen, entity, why, cid, released,
                                         released_f, inp.invoice_rates,
                                         inp.invoice_movements)
            receipts = await self._step("post_credit_memo", post_memo, permanent="raise")
            if isinstance(receipts, Skipped):
                return self._skipped(receipts)
            docs += [r.document_id for r in receipts.values()]
            self._record(str(self._state), documents=docs[-1:],
                         note=f"credit memo {memo.credit_memo_id} of {memo.total}")

        self._transition(S.REVOKING_ENTITLEMENTS)
        revoked = await self._step("revoke_entitlements", lambda _: calls.revoke(EntitlementInput(
            subscription_id=sub.subscription_id, customer_id=sub.customer_id,
            correlation_id=cid)), permanent="raise")
        if isinstance(revoked, Skipped):
            return self._skipped(revoked)
        if inp.contract_external_id:
            self._transition(S.CANCELLING_CONTRACT)
            cancelled = await self._step("cancel_contract", lambda _: calls.cancel_contract(
                ErpDocumentInput(legal_entity=entity, domain=Domain.RECEIVABLES,
                                 external_id=inp.contract_external_id or "",
                                 reason=f"cancelled: {inp.reason}", correlation_id=cid)),
                permanent="raise")
            if isinstance(cancelled, Skipped):
                return self._skipped(cancelled)
            docs.append(cancelled.document_id)
        else:
            self._transition(S.CANCELLING_CONTRACT, note="no ERP contract to cancel")
        self._transition(S.CANCELLED, event_id=inp.event_id, documents=docs)
        return CancellationResult(
            state=S.CANCELLED, effective_on=inp.effective_on, credit_memo=memo,
            credited=dict(credit.by_invoice) if credit else {},
            ended_lines=list(credit.ended_lines) if credit else [], documents=docs)
