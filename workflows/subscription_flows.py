"""The subscription entity's child flows: starting them, and applying what they did.

Amendments run as awaited children (short). Renewals, dunning ladders and
cancellations wait on timers for days or months, so they are started with
ParentClosePolicy.ABANDON (they outlive the entity's continue-as-new) and report
their progress and result by the `child_progress` signal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from canonical.events import (
        PaymentFailedEvent,
        SubscriptionAmendedEvent,
    )
    from canonical.money import Money

from . import versions
from .amendments import Amendments
from .cancellation import CancellationResult
from .cancellation import CancellationState as CS
from .document_rules import collected_key
from .dunning import DunningFlow
from .dunning_state import DunningInput, DunningResult
from .dunning_state import DunningState as DS
from .flow import ChildProgress
from .ledger_view import add_invoice, invoice_rates, replace_lines
from .renewal import RenewalFlow, renewal_window
from .renewal_state import RenewalInput, RenewalResult
from .renewal_state import RenewalState as RS
from .renewal_window import SCHEDULED
from .subscription_cancels import SubscriptionCancellations
from .subscription_state import InvoiceStatus
from .subscription_state import SubscriptionState as S

if TYPE_CHECKING:
    from .subscription import SubscriptionWorkflow

# A child's report that arrived before its start resolved is kept (see _start); histories
# recorded before keep their "Started" entry on replay.
PATCH_CHILD_REPORTED = "child-reported-before-start-v1"


class SubscriptionFlows(SubscriptionCancellations):
    def __init__(self, owner: SubscriptionWorkflow) -> None:
        self._o = owner
        self._amendments = Amendments(owner)

    # --- helpers -----------------------------------------------------------------------

    @property
    def _snap(self) -> Any:
        return self._o._snap

    def _running(self, prefix: str) -> list[str]:
        return sorted(c for c, p in self._o._children.items()
                      if c.startswith(prefix) and p.state != SCHEDULED)

    def _move(self, to: S, **details: Any) -> None:
        """A transition a child's outcome asks for; recorded only when the entity has
        moved on meanwhile (e.g. a renewal ends a term that dunning already cancelled)."""
        o = self._o
        if to == o._state or to in o.TRANSITIONS.get(o._state, frozenset()):
            o._transition(to, **details)
        else:
            o._record(str(o._state), note=f"stays {o._state} (outcome asked for {to}): "
                      f"{details.get('note', '')}")

    def _illegal(self, event: Any, detail: str) -> None:
        self._o._intake.finding("IllegalEvent", event, f"{detail}; recorded, not applied")

    async def _start(self, run: Any, arg: Any, child_id: str, flow: str) -> bool:
        self._o._reported.discard(child_id)  # only reports of this child count below
        try:
            await workflow.start_child_workflow(
                run, arg, id=child_id, task_queue=self._o._config.task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            self._o._intake.finding("FlowAlreadyRunning", None, f"{child_id} already runs")
            return False
        # The child's first report can come in the same activation as its start, and
        # signals are applied first: then it already said where it stands (or that it
        # finished), and a "Started" here would hide that for good (found by the chaos drill).
        if not (child_id in self._o._reported
                and versions.patched(self._o._config, PATCH_CHILD_REPORTED)):
            self._o._children[child_id] = ChildProgress(workflow_id=child_id, flow=flow,
                                                        state="Started")
        self._o._record(str(self._o._state), note=f"started {child_id}")
        return True

    async def _signal(self, child_id: str, signal: Any, arg: Any) -> None:
        try:
            await workflow.get_external_workflow_handle(child_id).signal(signal, arg)
        except Exception as err:  # it ended meanwhile: its own report says what it did
            workflow.logger.warning("child not signalled", extra={"child": child_id,
                                                                    "error": str(err)})

    async def _withdraw_renewals(self, reason: str) -> None:
        self._o._windows.withdraw(reason)
        for child_id in self._running("renewal-"):
            await self._signal(child_id, RenewalFlow.withdraw, reason)

    # --- renewal -----------------------------------------------------------------------

    def _renews(self) -> bool:
        """Whether the subscription as it is now is to be renewed."""
        sub = self._snap.subscription
        return (sub is not None and sub.auto_renew and self._o._config.renewals_enabled
                and self._o._state not in (S.CANCELLING, S.CANCELLED, S.ENDED))

    async def schedule_renewal(self) -> None:
        if not self._renews():
            return
        sub = self._snap.subscription
        child_id = f"renewal-{sub.subscription_id}-{sub.term_end.isoformat()}"
        if not self._o._windows.defer(child_id, renewal_window(sub, self._o._config)):
            await self._start_renewal(child_id)

    async def start_due_renewal(self) -> None:
        """A deferred renewal's window opened: start it with the subscription as it is."""
        child_id = self._o._windows.take_due()
        if self._renews():
            await self._start_renewal(child_id)

    async def _start_renewal(self, child_id: str) -> None:
        snap, cfg = self._snap, self._o._config
        await self._start(RenewalFlow.run, RenewalInput(
            subscription=snap.subscription, customer=snap.customer, number=snap.renewals + 1,
            contract_external_id=snap.contract_external_id,
            correlation_id=self._o._correlation_id, config=cfg), child_id, "renewal")

    async def _renewed(self, r: RenewalResult) -> None:
        o, snap = self._o, self._snap
        if r.state == RS.RENEWED and r.term is not None and r.invoice is not None:
            snap.subscription = r.term
            snap.contract_external_id = r.contract_external_id
            snap.renewals = r.number
            add_invoice(o._invoices, r.invoice, rate=r.invoice_rate)
            snap.lines = replace_lines(snap.lines, [], r.new_lines)
            o._record(str(o._state), documents=r.documents,
                      note=f"renewed for {r.term.term_start}..{r.term.term_end}")
            await self.schedule_renewal()
        elif r.state == RS.ENDED:
            self._move(S.ENDED, documents=r.documents, note=r.reason or "term ended")
        elif r.state == RS.WITHDRAWN:
            o._record(str(o._state), note=f"renewal {r.number} withdrawn: {r.reason}")
        else:
            o._intake.finding("RenewalNotPosted", None, f"renewal {r.number}: {r.state} "
                              f"({r.reason})")

    # --- amendment (workflows/amendments.py) -------------------------------------------

    def amendment_waiting_for(self, event: SubscriptionAmendedEvent, ahead: list[Any],
                              buffered: list[Any]) -> str | None:
        return self._amendments.waiting_for(event, ahead, buffered)

    async def amend(self, event: SubscriptionAmendedEvent) -> None:
        await self._amendments.amend(event)
        for child_id in self._running("renewal-"):
            await self._signal(child_id, RenewalFlow.update_subscription,
                               self._snap.subscription)

    # --- dunning -----------------------------------------------------------------------

    async def dun(self, event: PaymentFailedEvent) -> None:
        o, snap = self._o, self._snap
        f = event.payload.failure
        view = o._invoices.get(f.invoice_id)
        if o._state in (S.CANCELLED, S.ENDED) or view is None:
            self._illegal(event, f"payment failure while {o._state}")
            return
        if view.open_amount.amount <= 0 or view.status == InvoiceStatus.WRITTEN_OFF:
            # A late failure of an attempt superseded by a payment: nothing to collect.
            o._intake.finding("PaymentFailedButPaid", event,
                              f"invoice {f.invoice_id} has nothing open; no dunning")
            return
        child_id = f"dunning-{f.invoice_id}"
        if child_id in o._children:
            o._record(str(o._state), event_id=event.event_id,
                      note=f"{child_id} already runs; failure {f.payment_id} noted")
            return
        started = await self._start(DunningFlow.run, DunningInput(
            subscription=snap.subscription, customer=snap.customer, invoice_id=f.invoice_id,
            amount_due=view.open_amount, failure=f, lines=snap.lines,
            contract_external_id=snap.contract_external_id, event_id=event.event_id,
            correlation_id=event.correlation_id, config=o._config,
            invoice_rates=invoice_rates(o._invoices), settles=view.settled_by(),
            billed_by=event.source),
            child_id, "dunning")
        if started and o._state == S.ACTIVE:
            o._transition(S.PAST_DUE, event_id=event.event_id,
                          note=f"payment {f.payment_id} failed: {f.failure_code}")

    async def _dunned(self, r: DunningResult) -> None:
        o, snap = self._o, self._snap
        view = o._invoices.get(r.invoice_id)
        if r.state == DS.VOIDED:  # the entity voided the invoice: nothing was collected
            o._record(str(o._state), documents=r.documents,
                      note=f"dunning of {r.invoice_id} stopped: invoice voided")
            if o._state == S.PAST_DUE and not self._running("dunning-"):
                o._transition(S.ACTIVE, note=f"{r.invoice_id} voided")
            return
        if r.state == DS.RECOVERED:
            # A payment gateway that is also the billing system (Stripe) sends the webhook
            # of the payment the ladder collected, under the same id: it may come first.
            if (r.payment is not None and view is not None
                    and r.payment.payment_id not in view.payments):
                o._invoices[r.invoice_id] = view.with_payment(r.payment.payment_id,
                                                              r.payment.amount)
                snap.applied.append(collected_key(r.payment.payment_id))
            o._record(str(o._state), documents=r.documents,
                      note=f"dunning of {r.invoice_id} recovered by {r.paid_by}")
            if o._state == S.PAST_DUE and not self._running("dunning-"):
                o._transition(S.ACTIVE, note=f"{r.invoice_id} paid")
            return
        if r.cancellation is not None and r.cancellation.state == CS.CANCELLED:
            self._apply_credit(r.cancellation)
        view = o._invoices.get(r.invoice_id)
        if r.written_off is not None and view is not None:
            o._invoices[r.invoice_id] = view.with_credit(r.written_off).model_copy(
                update={"status": InvoiceStatus.WRITTEN_OFF})
            snap.written_off[r.invoice_id] = r.written_off
            if view.movements is not None and o._invoices[r.invoice_id].movements == []:
                snap.written_off_movements[r.invoice_id] = view.movements
        await self._withdraw_renewals("cancelled for non-payment")
        self._move(S.CANCELLED, documents=r.documents,
                   note=f"{r.invoice_id} written off ({r.written_off}); cancelled")

    # --- outcomes of background flows ---------------------------------------------------

    async def apply_outcome(self, progress: ChildProgress) -> None:
        data = progress.outcome or {}
        if progress.flow == "renewal":
            await self._renewed(RenewalResult.model_validate(data))
        elif progress.flow == "dunning":
            await self._dunned(DunningResult.model_validate(data))
        elif progress.flow == "cancellation":
            await self._cancelled(CancellationResult.model_validate(data))
        self._o._refresh_search()

    def open_balance(self) -> Money:
        cur = self._snap.subscription.currency
        return sum((v.open_amount for v in self._o._invoices.values()
                    if v.total.currency == cur), Money.zero(cur))
