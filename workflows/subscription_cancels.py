"""The subscription entity's cancellations: upstream, requested, scheduled and withdrawn.

A part of SubscriptionFlows (workflows/subscription_flows.py), whose helpers it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.events import SubscriptionCancelledEvent

from . import versions
from .cancellation import CancellationFlow, CancellationInput, CancellationResult
from .cancellation import CancellationState as CS
from .document_rules import PATCH_DOCUMENTS_TELL_DUNNING, tell_dunning
from .dunning import DunningFlow
from .ledger_view import credit_invoices, invoice_movements, invoice_rates, replace_lines
from .subscription_state import CancellationRequest
from .subscription_state import SubscriptionState as S

if TYPE_CHECKING:
    from .amendments import Amendments
    from .subscription import SubscriptionWorkflow

# Workflow patch: a second cancellation of the same date is noted, not an IllegalEvent.
PATCH_SAME_CANCELLATION = "same-cancellation-noted"


class SubscriptionCancellations:
    _o: SubscriptionWorkflow
    _amendments: Amendments

    if TYPE_CHECKING:
        @property
        def _snap(self) -> Any: ...
        def _running(self, prefix: str) -> list[str]: ...
        def _move(self, to: S, **details: Any) -> None: ...
        def _illegal(self, event: Any, detail: str) -> None: ...
        async def _start(self, run: Any, arg: Any, child_id: str, flow: str) -> bool: ...
        async def _signal(self, child_id: str, signal: Any, arg: Any) -> None: ...
        async def _withdraw_renewals(self, reason: str) -> None: ...
        async def schedule_renewal(self) -> None: ...

    async def cancel(self, event: SubscriptionCancelledEvent) -> None:
        p, o = event.payload, self._o
        if p.withdrawn:
            await self._withdraw_cancellation(event)
            return
        if (o._state in (S.CANCELLING, S.CANCELLED)
                and self._snap.cancellation_on == p.effective_on
                and versions.patched(self._o._config, PATCH_SAME_CANCELLATION)):
            # e.g. Stripe's deleted at the end of a period whose cancellation was scheduled
            o._record(str(o._state), event_id=event.event_id,
                      note=f"cancellation as of {p.effective_on} already under way or done")
            return
        if self._o._state in (S.ACTIVE, S.PAST_DUE):
            await self._amendments.reverse_after_cancellation(event, p.effective_on)
        await self._cancel(p.effective_on, p.reason or "cancelled upstream", False,
                           event.event_id, event)

    async def cancel_requested(self, req: CancellationRequest) -> None:
        quote = self._o._quote(req)
        await self._cancel(quote.effective_on, req.reason, req.prorate,
                           f"request:{req.request_id}", None)

    async def _cancel(self, effective_on: Any, reason: str, prorate: bool, event_id: str,
                      event: Any) -> None:
        o, snap = self._o, self._snap
        if o._state not in (S.ACTIVE, S.PAST_DUE):
            self._illegal(event, f"cancellation while {o._state}")
            return
        await self._withdraw_renewals("subscription cancelled")
        o._transition(S.CANCELLING, event_id=event_id, note=f"effective {effective_on}: {reason}")
        snap.cancellation_on = effective_on
        sub = snap.subscription
        await self._start(CancellationFlow.run, CancellationInput(
            subscription=sub, customer=snap.customer, effective_on=effective_on, reason=reason,
            lines=snap.lines, credit_unused=prorate,
            credit_memo_id=f"{sub.subscription_id}-cancel",
            contract_external_id=snap.contract_external_id, event_id=event_id,
            correlation_id=o._correlation_id, config=o._config,
            invoice_rates=invoice_rates(o._invoices),
            invoice_movements=invoice_movements(o._invoices)),
            f"cancellation-{sub.subscription_id}", "cancellation")

    async def _withdraw_cancellation(self, event: SubscriptionCancelledEvent) -> None:
        """A scheduled cancellation called off upstream: its flow, still waiting for the
        effective date, ends Withdrawn and the subscription goes on (renewal scheduled)."""
        o = self._o
        child_id = f"cancellation-{self._snap.subscription.subscription_id}"
        if o._state != S.CANCELLING or child_id not in o._children:
            self._illegal(event, f"withdrawal of a cancellation while {o._state}")
            return
        o._record(str(o._state), event_id=event.event_id,
                  note=f"cancellation as of {event.payload.effective_on} withdrawn")
        await self._signal(child_id, CancellationFlow.withdraw,
                           event.payload.reason or "withdrawn upstream")

    def _apply_credit(self, r: CancellationResult) -> None:
        credit_invoices(self._o._invoices, r.credited)
        self._snap.lines = replace_lines(self._snap.lines, r.ended_lines, [])
        if r.credit_memo is not None:
            self._snap.applied.append(f"cm:{r.credit_memo.credit_memo_id}")

    async def _tell_ladders(self, r: CancellationResult) -> None:
        """Ladders still running collect only what the credit left, and do not cancel the
        subscription again at their end (its credit would not post: same memo id)."""
        o = self._o
        ladders = self._running("dunning-")
        if not ladders or not versions.patched(o._config, PATCH_DOCUMENTS_TELL_DUNNING):
            return
        if r.credit_memo is not None:
            for invoice_id in r.credited:
                await tell_dunning(o, invoice_id, r.credit_memo.credit_memo_id)
        for child_id in ladders:
            await self._signal(child_id, DunningFlow.subscription_cancelled,
                               f"as of {r.effective_on}")

    async def _cancelled(self, r: CancellationResult) -> None:
        o = self._o
        if r.state == CS.WITHDRAWN:
            self._snap.cancellation_on = None
            if o._state == S.CANCELLING:
                o._transition(S.PAST_DUE if self._running("dunning-") else S.ACTIVE,
                              note=f"cancellation withdrawn: {r.skipped_reason}")
            await self.schedule_renewal()
            return
        if r.state == CS.CANCELLED:
            self._apply_credit(r)
            await self._tell_ladders(r)
            self._move(S.CANCELLED, documents=r.documents,
                       note=f"cancelled as of {r.effective_on}")
            return
        o._intake.finding("CancellationNotApplied", None, f"{r.state}: {r.skipped_reason}")
        if o._state == S.CANCELLING:
            o._transition(S.PAST_DUE if self._running("dunning-") else S.ACTIVE,
                          note="cancellation not applied")
        await self.schedule_renewal()
