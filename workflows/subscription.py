"""SubscriptionWorkflow: the entity every upstream event about one subscription is signalled to.

It drops duplicates by event id (and documents by business key), applies events in
`sequence` order (waiting a bounded time for a gap), holds events whose preconditions
are not met yet, runs the order-to-cash flows as child workflows with ids from
business keys, posts documents to the ERP in batches, answers `request_cancellation`,
and continues as new, carrying its state, before its history grows large or when it has
been idle for a while (so a later event replays a short run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from canonical.billing import Invoice
    from canonical.events import (
        Event,
        InvoiceIssuedEvent,
        InvoiceVoidedEvent,
        PaymentFailedEvent,
        PaymentSucceededEvent,
        SubscriptionActivatedEvent,
        SubscriptionAmendedEvent,
        SubscriptionCancelledEvent,
    )
    from canonical.proration import service_lines

from . import search, versions
from .activation import ActivationFlow, ActivationInput, ActivationResult, contract_external_id
from .activation_inline import PATCH_INLINE_ACTIVATION, activate_inline
from .calls import Calls
from .config import CODE_VERSION
from .document_rules import DocumentRules
from .documents import DocumentPoster, is_document_event
from .flow import ChildProgress, Flow, Skipped
from .intake import Intake
from .ledger_view import replace_lines
from .measure import PaymentArrivals
from .quote import quote_cancellation
from .renewal_window import RenewalWindows
from .subscription_flows import SubscriptionFlows
from .subscription_state import (
    LIVE,
    TRANSITIONS,
    CancellationQuote,
    CancellationRequest,
    Finding,
    InvoiceView,
    PendingEvent,
    SubscriptionInput,
    SubscriptionSnapshot,
    SubscriptionState,
    SubscriptionView,
)
from .subscription_view import amounts, earliest_wait, view_of

S = SubscriptionState
# Issue 3 added commands after activation (the renewal child); histories recorded
# before it replay on the old path (tests/histories/subscription_before_flows.json).
PATCH_FLOWS = "o2c-flows-v1"
# Only a run this long idles out: replaying it costs a cache miss about 20 ms of worker
# CPU more than a fresh run (docs/performance.md), more than a continue-as-new costs,
# while shorter runs (most entities, most of the time) keep their waits free of an idle
# timer, which costs every quiet spell a timer start and cancel (+7 % server CPU per
# event in bench/throughput.py when every run armed one).
IDLE_MIN_HISTORY = 100
# A run whose only event was the activation continues as new once it has had nothing
# to do for FRESH_RUN_AFTER. A later event for an entity evicted from the worker's cache
# then replays a start (one activation) instead of the activation's steps (four: the
# signal, then one per local activity resolved from its marker), which was most of what
# a cache miss cost (docs/performance.md, scale). It costs each subscription a timer, two
# workflow tasks and a run. The wait is a timer, not a continue-as-new in the task that
# ran the activation: a signal arriving during that task makes the server refuse the
# continue-as-new, and the task's local-activity markers go with it, so the activation's
# steps would run again.
PATCH_FRESH_AFTER_ACTIVATION = "fresh-run-after-activation"
FRESH_RUN_AFTER = timedelta(seconds=5)

WORKFLOW_ID_PREFIX = "subscription-"


def entity_workflow_id(subscription_id: str) -> str:
    """The id of a subscription's entity workflow: one per subscription, which is what lets
    signal-with-start deliver every event for it to the same workflow."""
    return WORKFLOW_ID_PREFIX + subscription_id


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
        self._children = dict(snap.children)
        self._intake = Intake(input.config, snap, on_finding=self._found,
                              rescan_after_gap=lambda: self._patched(PATCH_FLOWS))
        self._invoices: dict[str, InvoiceView] = dict(snap.invoices)
        self._poster = DocumentPoster(self, input.config, self._invoices,
                                      lambda: self._snap.customer, self._invoice_posted,
                                      self._document_applied, snap.releases,
                                      self._intake.buffered)
        self._flows = SubscriptionFlows(self)
        self._windows = RenewalWindows(self)
        self._rules = DocumentRules(self)
        self._run_events = 0
        self._activated = False  # this run applied an activation
        self._busy = False
        self._progress = False  # a child reported progress since the last search upsert
        self._reported: set[str] = set()  # children that reported in this run (see _start)
        self._next_action: dt.datetime | None = None
        self._arrivals = PaymentArrivals()  # for the payment application latency metric

    # --- messages ----------------------------------------------------------------------

    @workflow.signal
    def submit(self, event: Event) -> None:
        """An upstream event (signal-with-start from the gateway or starter)."""
        self._receive(event)

    @workflow.signal
    def submit_batch(self, events: list[Event]) -> None:
        """Several events at once: one signal, one history event."""
        for event in events:
            self._receive(event)

    def _receive(self, event: Event) -> None:
        if isinstance(event, PaymentSucceededEvent):
            self._arrivals.arrived(event.event_id)
        self._intake.receive(event)

    @workflow.query
    def state(self) -> SubscriptionView:
        return view_of(self)

    @workflow.query
    def pending(self) -> list[PendingEvent]:
        """Events received but not applied yet, and what each waits for."""
        return self._intake.pending(self._waiting_for)

    @workflow.update
    def request_cancellation(self, req: CancellationRequest) -> CancellationQuote:
        """Cancel: answers the effective date and the final invoice amount, then cancels."""
        quote = self._quote(req)
        self._snap.requests.append(req.model_copy(update={"effective_on": quote.effective_on}))
        return quote

    @request_cancellation.validator
    def _validate_cancellation(self, req: CancellationRequest) -> None:
        if self._state not in (S.ACTIVE, S.PAST_DUE) or self._snap.requests:
            raise ApplicationError(f"subscription {self._id} is {self._state}: not cancellable",
                                   type="subscription.not_cancellable")
        sub = self._snap.subscription
        on = req.effective_on
        if sub is not None and on is not None and not sub.term_start <= on <= sub.term_end:
            raise ApplicationError(f"effective date {on} is outside the term "
                                   f"{sub.term_start}..{sub.term_end}",
                                   type="subscription.invalid_effective_date")

    def _quote(self, req: CancellationRequest) -> CancellationQuote:
        return quote_cancellation(self._snap, self._flows.open_balance(), req,
                                  workflow.now().date())

    def _on_child_progress(self, progress: ChildProgress) -> None:
        self._reported.add(progress.workflow_id)
        self._children.pop(progress.workflow_id, None)
        if not progress.finished:
            self._children[progress.workflow_id] = progress
        elif progress.outcome is not None:
            self._snap.outcomes.append(progress)
        self._progress = True

    # --- main loop ---------------------------------------------------------------------

    @workflow.run
    @search.flushed
    async def run(self, input: SubscriptionInput) -> None:
        fresh = ([] if search.POSTING_STATUS.name in self._search
                 else [search.POSTING_STATUS.value_set(search.PostingStatus.PENDING)])
        self._upsert(search.SUBSCRIPTION_ID.value_set(self._id),
                     search.O2C_FLOW.value_set(self.FLOW),
                     search.O2C_STATE.value_set(str(self._state)), *fresh)
        self._windows.rearm()
        while True:
            timeout = self._intake.gap_timeout()
            idle = self._idle_timeout() if timeout is None else None
            # A gap timeout means the gap wait is over; take_ready then proceeds past it.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    self._has_work, timeout=timeout or idle,
                    timeout_summary="sequence gap" if idle is None else "idle")
            if idle is not None and not self._has_work():
                await self._continue_as_new()
            self._intake.absorb()
            while True:
                if self._snap.outcomes:
                    self._busy = True
                    await self._flows.apply_outcome(self._snap.outcomes.pop(0))
                elif self._windows.due:
                    self._busy = True
                    await self._flows.start_due_renewal()
                elif self._snap.requests:
                    self._busy = True
                    await self._flows.cancel_requested(self._snap.requests[0])
                    self._snap.requests.pop(0)
                elif ready := self._intake.take_ready(self._waiting_for):
                    self._busy = True
                    await self._apply(ready)
                else:
                    break
            self._busy = False
            if self._progress:
                self._progress = False
                self._refresh_next_action()
            if self._should_continue_as_new():
                await self._continue_as_new()

    async def _continue_as_new(self) -> NoReturn:
        await workflow.wait_condition(workflow.all_handlers_finished)
        # The next run is a new execution of this code: it gets this code's version.
        config = self._config.model_copy(update={"code_version": CODE_VERSION})
        workflow.continue_as_new(SubscriptionInput(
            subscription_id=self._id, config=config, snapshot=self._snapshot()))

    def _idle_timeout(self) -> timedelta | None:
        """How long to wait for work before continuing as new; None: wait as long as it takes."""
        if (self._activated and self._run_events == 1 and not self._children
                and self._patched(PATCH_FRESH_AFTER_ACTIVATION)):
            return FRESH_RUN_AFTER
        after = self._config.idle_continue_as_new_s
        if after is None or workflow.info().get_current_history_length() < IDLE_MIN_HISTORY:
            return None
        return timedelta(seconds=after)

    def _has_work(self) -> bool:
        return (self._intake.has_new() or bool(self._snap.outcomes or self._snap.requests)
                or self._progress or bool(self._windows.due))

    def _patched(self, patch_id: str) -> bool:
        return versions.patched(self._config, patch_id)

    def _should_continue_as_new(self) -> bool:
        return (workflow.info().is_continue_as_new_suggested()
                or self._run_events >= self._config.continue_as_new_after_events)

    def _snapshot(self) -> SubscriptionSnapshot:
        return self._snap.model_copy(update={
            "state": self._state, "audit": list(self._audit), "invoices": dict(self._invoices),
            "children": dict(self._children), **self._intake.carried()})

    def _waiting_for(self, event: Event, ahead: list[Event]) -> str | None:
        """What an event still needs before it can be applied, or None if it is ready."""
        if event.event_type == "subscription.activated":
            return None
        if self._state not in LIVE:
            return "activation"
        if isinstance(event, PaymentFailedEvent | InvoiceVoidedEvent):
            invoice_id = (event.payload.failure.invoice_id
                          if isinstance(event, PaymentFailedEvent) else event.payload.invoice_id)
            if invoice_id in self._invoices or any(
                    isinstance(e, InvoiceIssuedEvent)
                    and e.payload.invoice.invoice_id == invoice_id for e in ahead):
                return None
            return f"invoice {invoice_id}"
        if isinstance(event, SubscriptionAmendedEvent):
            return self._flows.amendment_waiting_for(event, ahead, self._intake.buffered())
        return self._poster.waiting_for(event, ahead)

    async def _apply(self, ready: list[Event]) -> None:
        """Apply events in order; consecutive document events are posted as one batch."""
        batch: list[Event] = []
        for event in ready:
            if is_document_event(event):
                if not ((self._patched(PATCH_FLOWS) and self._rules.duplicate(event))
                        or self._rules.foreign_to_invoice(event, batch)):
                    batch.append(event)
                continue
            if batch:
                await self._post(batch)
                batch = []
            await self._apply_one(event)
        if batch:
            await self._post(batch)
        self._run_events += len(ready)
        self._snap.events_applied += len(ready)

    async def _post(self, batch: list[Event]) -> None:
        await self._rules.before(batch)
        await self._poster.post(batch)
        await self._rules.after(batch)

    async def _apply_one(self, event: Event) -> None:
        if isinstance(event, SubscriptionActivatedEvent):
            await self._activate(event)
            return
        if not self._patched(PATCH_FLOWS):  # histories from before the flows existed
            self._intake.finding("UnsupportedEvent", event,
                                 f"{event.event_type} is not handled yet; recorded, not applied")
            self._record(str(self._state), event_id=event.event_id,
                         note=f"{event.event_type} recorded but not applied")
            return
        if isinstance(event, SubscriptionAmendedEvent):
            await self._flows.amend(event)
        elif isinstance(event, SubscriptionCancelledEvent):
            await self._flows.cancel(event)
        elif isinstance(event, PaymentFailedEvent):
            await self._flows.dun(event)
        elif isinstance(event, InvoiceVoidedEvent):
            await self._rules.void(event)
        else:
            self._intake.finding("UnsupportedEvent", event,
                                 f"{event.event_type} is not handled; recorded, not applied")
        self._refresh_search()

    async def _activate(self, event: SubscriptionActivatedEvent) -> None:
        if self._state not in (S.PENDING_ACTIVATION, S.ACTIVATION_SKIPPED):
            self._intake.finding("IllegalEvent", event,
                                 f"activation while {self._state}; recorded, not applied")
            return
        self._activated = True
        customer, sub = event.payload.customer, event.payload.subscription
        self._snap.customer, self._snap.subscription = customer, sub
        self._snap.correlation_id = self._correlation_id = event.correlation_id
        self._upsert(search.CUSTOMER_ID.value_set(customer.customer_id),
                     search.LEGAL_ENTITY.value_set(sub.legal_entity),
                     search.CORRELATION_ID.value_set(event.correlation_id))
        self._transition(S.ACTIVATING, event_id=event.event_id)
        result: ActivationResult | Skipped | None = None
        if self._patched(PATCH_INLINE_ACTIVATION):
            result = await activate_inline(Calls(self._config), customer, sub,
                                           event.correlation_id)
        if result is None:  # a step failed for good: the flow compensates and parks
            result = await self._step("activation", lambda _: workflow.execute_child_workflow(
                ActivationFlow.run,
                ActivationInput(customer=customer, subscription=sub, event_id=event.event_id,
                                correlation_id=event.correlation_id, config=self._config),
                id=f"activation-{sub.subscription_id}",
                task_queue=self._config.task_queue,
                execution_timeout=timedelta(days=365)))
            self._children.pop(f"activation-{sub.subscription_id}", None)
        if isinstance(result, Skipped) or result.state != "Active":
            reason = result.reason if isinstance(result, Skipped) else result.skipped_reason
            self._transition(S.ACTIVATION_SKIPPED, event_id=event.event_id, note=reason or "")
            return
        assert isinstance(result, ActivationResult)
        self._snap.references.update(result.references)
        self._snap.contract_external_id = (result.contract_external_id
                                           or contract_external_id(sub))
        self._transition(S.ACTIVE, event_id=event.event_id, documents=result.documents)
        if self._patched(PATCH_FLOWS):
            await self._flows.schedule_renewal()

    # --- bookkeeping -------------------------------------------------------------------

    def _document_applied(self, event: Event) -> None:
        if self._snap.subscription is not None:
            self._arrivals.applied(event.event_id, self._snap.subscription.legal_entity)

    def _invoice_posted(self, invoice: Invoice) -> None:
        self._snap.lines = replace_lines(self._snap.lines, [], service_lines(invoice))

    def _found(self, finding: Finding) -> None:
        self._record(str(self._state), event_id=finding.event_id,
                     note=f"finding {finding.kind}: {finding.detail}"[:500])
        if self._patched(PATCH_FLOWS):
            kinds = sorted({f.kind for f in self._snap.findings})
            self._upsert(search.FINDINGS.value_set(kinds))

    def _refresh_next_action(self) -> None:
        at = earliest_wait(self._children.values())
        if at != self._next_action:
            self._next_action = at
            self._upsert(search.next_action(at))

    def _refresh_search(self) -> None:
        self._upsert(*amounts(self._invoices))
