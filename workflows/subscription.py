"""SubscriptionWorkflow: the entity every upstream event about one subscription is signalled to.

It drops duplicates by event id, applies events in `sequence` order (waiting a
bounded time for a gap), holds events whose preconditions are not met yet, runs
flows as child workflows, posts documents to the ERP in batches, and continues
as new before its history grows large.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.events import Event, SubscriptionActivatedEvent

from . import search
from .activation import ActivationFlow, ActivationInput, ActivationResult
from .documents import DocumentPoster, is_document_event
from .flow import Flow, Skipped
from .intake import Intake
from .subscription_state import (
    TRANSITIONS,
    InvoiceView,
    SubscriptionInput,
    SubscriptionSnapshot,
    SubscriptionState,
    SubscriptionView,
)

S = SubscriptionState


@workflow.defn
class SubscriptionWorkflow(Flow):
    FLOW = "subscription"
    TRANSITIONS = TRANSITIONS

    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        snap = input.snapshot or SubscriptionSnapshot()
        self._id = input.subscription_id
        self._snap = snap
        self._init_flow(input.config, snap.state, snap.correlation_id or "", snap.audit)
        self._intake = Intake(input.config, snap)
        self._invoices: dict[str, InvoiceView] = dict(snap.invoices)
        self._poster = DocumentPoster(self, input.config, self._invoices,
                                      lambda: self._snap.customer)
        self._run_events = 0
        self._busy = False

    # --- messages ----------------------------------------------------------------------

    @workflow.signal
    def submit(self, event: Event) -> None:
        """An upstream event (signal-with-start from the gateway or starter)."""
        self._intake.receive(event)

    @workflow.signal
    def submit_batch(self, events: list[Event]) -> None:
        """Several events at once: one signal, one history event."""
        for event in events:
            self._intake.receive(event)

    @workflow.query
    def state(self) -> SubscriptionView:
        snap = self._snap
        due: dict[str, Any] = {}
        for inv in self._invoices.values():
            due[inv.total.currency] = due.get(inv.total.currency, 0) + inv.open_amount.amount
        return SubscriptionView(
            subscription_id=self._id, state=self._state,
            customer_id=snap.customer.customer_id if snap.customer else None,
            legal_entity=snap.subscription.legal_entity if snap.subscription else None,
            last_sequence=self._intake.last_sequence, events_applied=snap.events_applied,
            amount_due=due, invoices=list(self._invoices.values()),
            pending=self._intake.pending(self._waiting_for), findings=list(snap.findings),
            references=dict(snap.references), parked=self._parked is not None,
            busy=self._busy)

    # --- main loop ---------------------------------------------------------------------

    @workflow.run
    async def run(self, input: SubscriptionInput) -> None:
        search.upsert(self._config.search_attributes,
                      search.SUBSCRIPTION_ID.value_set(self._id),
                      search.O2C_FLOW.value_set(self.FLOW),
                      search.O2C_STATE.value_set(str(self._state)))
        while True:
            timeout = self._intake.gap_timeout()
            # A timeout means the gap wait is over; take_ready then proceeds past the gap.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._intake.has_new, timeout=timeout,
                                              timeout_summary="sequence gap")
            self._intake.absorb()
            while ready := self._intake.take_ready(self._waiting_for):
                self._busy = True
                await self._apply(ready)
            self._busy = False
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(SubscriptionInput(
                    subscription_id=self._id, config=self._config, snapshot=self._snapshot()))

    def _should_continue_as_new(self) -> bool:
        return (workflow.info().is_continue_as_new_suggested()
                or self._run_events >= self._config.continue_as_new_after_events)

    def _snapshot(self) -> SubscriptionSnapshot:
        return self._snap.model_copy(update={
            "state": self._state, "audit": list(self._audit), "invoices": dict(self._invoices),
            **self._intake.carried()})

    def _waiting_for(self, event: Event, ahead: list[Event]) -> str | None:
        """What an event still needs before it can be applied, or None if it is ready."""
        if event.event_type == "subscription.activated":
            return None
        if self._state != S.ACTIVE:
            return "activation"
        return self._poster.waiting_for(event, ahead)

    async def _apply(self, ready: list[Event]) -> None:
        """Apply events in order; consecutive document events are posted as one batch."""
        batch: list[Event] = []
        for event in ready:
            if is_document_event(event):
                batch.append(event)
                continue
            if batch:
                await self._poster.post(batch)
                batch = []
            await self._apply_one(event)
        if batch:
            await self._poster.post(batch)
        self._run_events += len(ready)
        self._snap.events_applied += len(ready)

    async def _apply_one(self, event: Event) -> None:
        if isinstance(event, SubscriptionActivatedEvent):
            await self._activate(event)
        else:
            self._intake.finding("UnsupportedEvent", event,
                                 f"{event.event_type} is not handled yet; recorded, not applied")
            self._record(str(self._state), event_id=event.event_id,
                         note=f"{event.event_type} recorded but not applied")

    async def _activate(self, event: SubscriptionActivatedEvent) -> None:
        if self._state not in (S.PENDING_ACTIVATION, S.ACTIVATION_SKIPPED):
            self._intake.finding("IllegalEvent", event,
                                 f"activation while {self._state}; recorded, not applied")
            return
        customer, sub = event.payload.customer, event.payload.subscription
        self._snap.customer, self._snap.subscription = customer, sub
        self._snap.correlation_id = self._correlation_id = event.correlation_id
        search.upsert(self._config.search_attributes,
                      search.CUSTOMER_ID.value_set(customer.customer_id),
                      search.LEGAL_ENTITY.value_set(sub.legal_entity),
                      search.CORRELATION_ID.value_set(event.correlation_id))
        self._transition(S.ACTIVATING, event_id=event.event_id)
        result = await self._step("activation", lambda _: workflow.execute_child_workflow(
            ActivationFlow.run,
            ActivationInput(customer=customer, subscription=sub, event_id=event.event_id,
                            correlation_id=event.correlation_id, config=self._config),
            id=f"activation-{sub.subscription_id}",
            task_queue=self._config.task_queue,
            execution_timeout=timedelta(days=365)))
        if isinstance(result, Skipped) or result.state != "Active":
            reason = result.reason if isinstance(result, Skipped) else result.skipped_reason
            self._transition(S.ACTIVATION_SKIPPED, event_id=event.event_id, note=reason or "")
            return
        assert isinstance(result, ActivationResult)
        self._snap.references.update(result.references)
        self._transition(S.ACTIVE, event_id=event.event_id, documents=result.documents)
