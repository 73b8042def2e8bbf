"""DunningFlow: after a failed payment, a ladder of collection retries on durable timers.

Retries on the days of FlowConfig.dunning_retry_days after the failure (default 3, 5
and 7; a "day" is FlowConfig.day_seconds), with a customer notice after every failed
attempt; after the ladder's middle attempt the entitlements are suspended; after the
last, the subscription is cancelled (CancellationFlow: unused service credited) and
the rest of the invoice is written off (Dr Bad Debt / Cr AR, `wo:{invoice_id}`).
A payment (the entity's `payment_received` signal, or a collected retry) ends the
ladder at any step before the cancellation and restores suspended entitlements; one
that arrives while the cancellation runs leaves nothing to write off. A void of the
invoice (the `invoice_voided` signal) ends it the same way, in state `Voided`: there is
no debt left to collect. Once the cancellation has started it runs to its end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.billing import CloseUpstreamInput
    from activities.crm import SendNoticeInput
    from activities.io import EntitlementInput, PaymentJournalInput, WriteOffJournalInput
    from activities.payments import CollectPaymentInput
    from adapters.erp.port import ErpReceipt, JournalPosting, PaymentPosting
    from adapters.erp.routing import Domain
    from adapters.payments.port import CollectionStatus
    from canonical.money import Money
    from canonical.payment import Payment
    from canonical.proration import ServiceLine

from . import search, versions
from .calls import Calls
from .cancellation import CancellationFlow, CancellationInput, CancellationResult
from .dunning_state import (
    PATCH_STOP_BEFORE_CANCEL,
    PATCH_WAITS_ONLY,
    TRANSITIONS,
    DunningInput,
    DunningResult,
    DunningState,
    DunningView,
    PaymentNotice,
    middle,
)
from .flow import Flow, Skipped

S = DunningState


@workflow.defn
class DunningFlow(Flow):
    FLOW = "dunning"
    TRANSITIONS = TRANSITIONS
    POSTING = {S.RECOVERED: search.PostingStatus.POSTED,
               S.WRITTEN_OFF: search.PostingStatus.POSTED}

    @workflow.init
    def __init__(self, input: DunningInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)
        self._input = input
        self._due = input.amount_due
        # What moved the foreign receivable, as of `_due` (the entity's, then its notices')
        self._movements = input.settles
        self._paid_by: str | None = None
        self._voided: str | None = None  # the void's reason
        # The entity's own cancellation (it credited the unused service and revoked the
        # entitlements): the ladder's end writes off what is due without cancelling again.
        self._cancelled: str | None = None
        # The entity's service lines, as its last change left them: what the cancellation
        # at the ladder's end credits (an amendment during the ladder ends and adds lines).
        self._lines = input.lines
        self._attempt = 0  # the attempt being waited for or made
        self._made = 0  # collection attempts made
        self._next: dt.datetime | None = None
        self._suspended = False
        self._docs: list[str] = []

    @workflow.signal
    def service_changed(self, lines: list[ServiceLine]) -> None:
        self._lines = lines

    @workflow.signal
    def subscription_cancelled(self, note: str) -> None:
        self._cancelled = note

    @workflow.signal
    def payment_received(self, notice: PaymentNotice) -> None:
        self._due = notice.open_amount
        self._movements = notice.movements
        if notice.open_amount.amount <= 0:
            self._paid_by = notice.payment_id

    @workflow.signal
    def invoice_voided(self, reason: str) -> None:
        self._voided = reason or "voided"

    def _stopped(self) -> bool:
        return self._paid_by is not None or self._voided is not None

    @workflow.query
    def state(self) -> DunningView:
        return DunningView(state=self._state, invoice_id=self._input.invoice_id,
                           attempt=self._attempt, amount_due=self._due,
                           next_action_at=self._next, suspended=self._suspended)

    def _transition_search(self, to: StrEnum, documents: list[str]) -> list[Any]:
        return [search.next_action(self._next), search.AMOUNT_DUE.value_set(
            float(self._due.amount)), *super()._transition_search(to, [*self._docs, *documents])]

    def _upsert_due(self, *extra: Any) -> None:
        self._upsert(search.next_action(self._next),
                     search.AMOUNT_DUE.value_set(float(self._due.amount)), *extra)

    @workflow.run
    @search.flushed
    async def run(self, input: DunningInput) -> DunningResult:
        sub = input.subscription
        self._upsert_started(sub.customer_id, sub, input.correlation_id,
                             search.INVOICE_IDS.value_set([input.invoice_id]))
        result = await self._ladder(input)
        self._upsert(search.next_action(None),
                     search.POSTING_STATUS.value_set(search.PostingStatus.POSTED))
        result = result.model_copy(update={"documents": list(self._docs),
                                           "audit": list(self._audit)})
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notify_parent(finished=True, outcome=result.model_dump(mode="json"))
        return result

    async def _ladder(self, input: DunningInput) -> DunningResult:
        days, cfg = input.config.dunning_retry_days, input.config
        start, failed_on = workflow.now(), input.failure.failed_on
        await self._notice("payment_failed", 0)
        for i, day in enumerate(days):
            self._attempt = i + 1
            self._next = start + dt.timedelta(seconds=day * cfg.day_seconds)
            self._transition(S.WAITING_TO_RETRY, note=f"attempt {i + 1} on day {day}")
            self._upsert_due()
            await self._notify_parent(waiting_until=self._next)
            left = self._next - workflow.now()
            if left > dt.timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._stopped, timeout=left,
                                                  timeout_summary="dunning retry")
            self._next = None
            if not versions.patched(self._config, PATCH_WAITS_ONLY):
                await self._notify_parent()
            if self._voided is not None:
                return await self._void()
            if self._paid_by is not None:
                return await self._recover(None)
            self._transition(S.RETRYING, note=f"attempt {i + 1} for {self._due}")
            self._upsert_due()
            self._made += 1
            collected = await self._collect(i + 1, failed_on + dt.timedelta(days=day))
            if collected is not None or self._paid_by is not None:
                return await self._recover(collected)
            if self._voided is not None:
                return await self._void()
            await self._notice("retry_failed", i + 1)
            if i == middle(days) and i < len(days) - 1:
                self._transition(S.SUSPENDING)
                suspended = await self._step("suspend_entitlements", lambda _: self._calls.suspend(
                    self._entitlement()))
                self._suspended = not isinstance(suspended, Skipped)
                await self._notice("suspended", i + 1)
        if self._stopped() and versions.patched(self._config, PATCH_STOP_BEFORE_CANCEL):
            # Paid or voided while the last attempt's notice went out: nothing to cancel.
            return await (self._void() if self._voided is not None else self._recover(None))
        return await self._write_off(failed_on + dt.timedelta(days=days[-1] if days else 0))

    def _entitlement(self) -> EntitlementInput:
        sub = self._input.subscription
        return EntitlementInput(subscription_id=sub.subscription_id,
                                customer_id=sub.customer_id, correlation_id=self._correlation_id)

    async def _notice(self, kind: str, attempt: int) -> None:
        inp = self._input
        await self._step(f"notice {kind}", lambda _: self._calls.send_notice(SendNoticeInput(
            notice_id=f"dun:{inp.invoice_id}:{kind}:{attempt}",
            customer_id=inp.customer.customer_id,
            subscription_id=inp.subscription.subscription_id, kind=f"dunning_{kind}",
            detail={"invoice_id": inp.invoice_id, "attempt": attempt,
                    "amount_due": str(self._due)},
            correlation_id=self._correlation_id)))

    async def _collect(self, attempt: int, on: dt.date) -> Payment | None:
        inp, sub = self._input, self._input.subscription
        result = await self._step(f"collect attempt {attempt}", lambda _: (
            self._calls.collect_payment(CollectPaymentInput(attempt_id=f"dun:{inp.invoice_id}:{attempt}",
                                invoice_id=inp.invoice_id, customer_id=sub.customer_id,
                                subscription_id=sub.subscription_id,
                                legal_entity=sub.legal_entity, amount=self._due, attempted_on=on,
                                correlation_id=self._correlation_id))))
        if isinstance(result, Skipped) or result.status != CollectionStatus.SUCCEEDED:
            self._record(str(self._state), note=f"attempt {attempt} failed: "
                         + (result.reason if isinstance(result, Skipped)
                            else f"{result.failure_code} {result.failure_message}"))
            return None
        payment = result.payment
        assert payment is not None

        async def post(_: Any) -> list[ErpReceipt]:
            assert payment is not None
            entry = await self._calls.payment_journal(PaymentJournalInput(
                payment=payment, correlation_id=self._correlation_id,
                invoice_rate=inp.invoice_rates.get(inp.invoice_id),
                settles=self._settles_with(None) if payment.amount == self._due else None))
            posting = PaymentPosting(external_id=entry.external_id, payment=payment, entry=entry)
            return await self._calls.post(sub.legal_entity, Domain.RECEIVABLES, [posting],
                                          self._correlation_id)

        receipts = await self._step("post_payment", post)
        if not isinstance(receipts, Skipped):
            self._docs += [r.document_id for r in receipts]
            self._record(str(self._state), documents=[r.document_id for r in receipts],
                         note=f"attempt {attempt} collected {payment.amount}")
        return payment

    async def _recover(self, payment: Payment | None) -> DunningResult:
        paid_by = self._paid_by or (payment.payment_id if payment else None)
        self._transition(S.RECOVERING, note=f"paid by {paid_by}")
        if self._suspended:
            await self._step("restore_entitlements", lambda _: self._calls.restore(
                self._entitlement()))
            self._suspended = False
        await self._notice("payment_received", self._attempt)
        self._transition(S.RECOVERED)
        return DunningResult(state=S.RECOVERED, invoice_id=self._input.invoice_id,
                             attempts=self._made, payment=payment,
                             paid_by=paid_by)

    async def _void(self) -> DunningResult:
        self._transition(S.VOIDED, note=f"invoice {self._input.invoice_id} voided: "
                         f"{self._voided}; ladder stopped")
        if self._suspended:
            await self._step("restore_entitlements", lambda _: self._calls.restore(
                self._entitlement()))
            self._suspended = False
        return DunningResult(state=S.VOIDED, invoice_id=self._input.invoice_id,
                             attempts=self._made)

    async def _write_off(self, on: dt.date) -> DunningResult:
        inp, sub, cid = self._input, self._input.subscription, self._correlation_id
        if self._cancelled is not None:
            self._transition(S.CANCELLING, note=f"ladder exhausted; the subscription was "
                             f"cancelled already ({self._cancelled})")
            cancellation = None
        else:
            self._transition(S.CANCELLING, note=f"ladder exhausted; cancelling as of {on}")
            cancellation = await self._cancel(on)
        credited = (cancellation.credited.get(inp.invoice_id) if cancellation else None)
        amount = self._due - credited if credited is not None else self._due
        self._transition(S.WRITING_OFF, note=f"writing off {amount}")
        if self._voided is not None:  # voided while the cancellation ran: no debt left
            self._record(str(self._state), note=f"invoice voided ({self._voided}); "
                         "nothing written off")
        elif amount.amount > 0:
            async def post(_: Any) -> list[ErpReceipt]:
                entry = await self._calls.write_off_journal(WriteOffJournalInput(
                    invoice_id=inp.invoice_id, amount=amount, legal_entity=sub.legal_entity,
                    customer_id=sub.customer_id, posting_date=on, correlation_id=cid,
                    invoice_rate=inp.invoice_rates.get(inp.invoice_id),
                    settles=self._settles_with(credited)))
                posting = JournalPosting(external_id=entry.external_id, entry=entry)
                return await self._calls.post(sub.legal_entity, Domain.RECEIVABLES, [posting],
                                              cid)

            receipts = await self._step("post_write_off", post)
            if not isinstance(receipts, Skipped):
                self._docs += [r.document_id for r in receipts]
        if self._config.close_written_off_upstream and self._voided is None:
            sources = self._config.close_upstream_sources
            if sources is not None and inp.billed_by not in (None, *sources):
                # another source's subscription: that billing system does not bill it
                self._record(str(self._state), note=(
                    f"billing system not told: {inp.invoice_id} came from {inp.billed_by}, "
                    f"which it does not bill ({', '.join(sources)})"))
            else:
                close = CloseUpstreamInput(
                    invoice_id=inp.invoice_id, subscription_id=sub.subscription_id,
                    reason=f"Cashloop: dunning exhausted, {inp.invoice_id} written off",
                    correlation_id=cid)
                closed = await self._step("close_upstream",
                                          lambda _: self._calls.close_unpaid_upstream(close))
                if not isinstance(closed, Skipped):
                    self._record(str(self._state), note=(
                        f"billing system: invoice {closed.invoice_status}, subscription "
                        f"{closed.subscription_status}"
                        + ("" if closed.changed else " (already)")))
        await self._notice("written_off", self._attempt)
        self._transition(S.WRITTEN_OFF, documents=list(self._docs))
        return DunningResult(state=S.WRITTEN_OFF, invoice_id=inp.invoice_id,
                             attempts=self._made,
                             written_off=(amount if amount.amount > 0 and self._voided is None
                                          else None),
                             cancellation=cancellation)

    def _settles_with(self, credited: Money | None) -> list[Decimal] | None:
        """What moved the receivable (as the entity last told), less the cancellation's
        credit; None when they are not known or do not add up to what is due."""
        known = self._movements
        if known is None or sum(known, Decimal(0)) != self._due.amount:
            return None
        return [*known, *([-credited.amount] if credited is not None else [])]

    async def _cancel(self, on: dt.date) -> CancellationResult | None:
        inp, sub = self._input, self._input.subscription
        child = CancellationInput(
            subscription=sub, customer=inp.customer, effective_on=on, reason="non-payment",
            lines=self._lines, credit_unused=True,
            credit_memo_id=f"{sub.subscription_id}-cancel",
            contract_external_id=inp.contract_external_id, event_id=inp.event_id,
            correlation_id=self._correlation_id, config=self._config,
            invoice_rates=inp.invoice_rates,
            invoice_movements=({inp.invoice_id: known}
                               if (known := self._settles_with(None)) is not None else {}))
        try:
            result = await self._step("cancellation", lambda _: workflow.execute_child_workflow(
                CancellationFlow.run, child, id=f"cancellation-{sub.subscription_id}",
                task_queue=self._config.task_queue))
        except WorkflowAlreadyStartedError:
            self._record(str(self._state), note="a cancellation is already running; "
                         "writing off without crediting unused service")
            return None
        return None if isinstance(result, Skipped) else result
