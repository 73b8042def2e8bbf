"""The entity's amendments: run AmendmentFlow, apply its result, and the late-amendment rule.

Reversal rule: an amendment effective *before* one already applied (it arrived late,
after a sequence gap was given up on) is not applied on top of it, since it would
credit the wrong items. The later amendments are reversed newest first (each of
their ERP documents gets its exact reversal, `rev-{external id}`, and the entity's
lines, credits, rebill and items go back to before them), the late amendment is
applied, and the reversed ones are applied again as a new generation (document ids
`~{n}`). The books end as if the amendments had arrived in order. A later rebill
that already has payments is reversed too: its payments stay on the customer's account
(the ERP keeps them; the reversal leaves them as a credit) and are carried to the
rebill issued again under the same invoice id, so what is open ends as in order.

A cancellation (`subscription.cancelled`) effective on or before the date of applied
amendments arrived late too: those amendments bill service after the end, so they are
reversed the same way and not applied again (`LateCancellation` finding); payments of
their rebills stay with the customer as a credit.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import ReverseErpDocumentInput
    from adapters.erp.routing import Domain
    from canonical.events import InvoiceIssuedEvent, SubscriptionAmendedEvent
    from canonical.proration import service_lines
    from canonical.subscription import Amendment

from . import search, versions
from .amendment import AmendmentFlow, AmendmentInput, AmendmentResult
from .amendment import AmendmentState as AS
from .amendment_inline import PATCH_INLINE_AMENDMENT, amend_inline
from .calls import Calls
from .document_rules import tell_dunning, tell_ladders_lines, tell_voided
from .flow import Skipped
from .ledger_view import (
    add_invoice,
    credit_invoices,
    invoice_movements,
    invoice_rates,
    replace_lines,
)
from .saga import generation_id
from .subscription_state import AppliedAmendment, DeferredRelease, InvoiceStatus
from .subscription_state import SubscriptionState as S
from .upstream_first import adjust_memo_release, own_lines_excluded, release_after_memo

if TYPE_CHECKING:
    from canonical.customer import CustomerAccount
    from canonical.subscription import Subscription

    from .subscription import SubscriptionWorkflow

LOG_KEEP = 20  # applied amendments a late one can still be ordered against
# Workflow patch: a late amendment also reverses later amendments whose rebill has
# payments (before it, it was refused with a finding and left to an operator).
PATCH_REVERSE_PAID_REBILL = "late-amendment-reverses-paid-rebill"
# Workflow patch: a cancellation effective before applied amendments reverses them.
PATCH_LATE_CANCELLATION = "late-cancellation-reverses-amendments"
# Workflow patch: the ladders of the invoices that reversal re-opens (or voids) are told.
PATCH_LATE_CANCELLATION_TELLS_DUNNING = "late-cancellation-tells-dunning"
# Workflow patch: an amendment waits for the buffered invoice of the service it changes.
PATCH_AMENDMENT_WAITS = "amendment-waits-for-its-invoice"


class Amendments:
    def __init__(self, owner: SubscriptionWorkflow) -> None:
        self._o = owner
        self._calls = Calls(owner._config)
        # Decided once per run (queries call waiting_for and must not record a patch).
        self._waits = versions.patched(owner._config, PATCH_AMENDMENT_WAITS)

    def waiting_for(self, event: SubscriptionAmendedEvent, ahead: list[Any],
                    buffered: list[Any]) -> str | None:
        """An amendment that came before the invoice of the service it changes (Stripe
        may deliver `customer.subscription.updated` before `.created` and the first
        invoice) waits for that invoice when it is buffered, instead of failing."""
        day = event.payload.amendment.effective_at.astimezone(dt.UTC).date()
        if not self._waits or any(ln.covers(day) for ln in self._o._snap.lines):
            return None

        def covering(e: Any) -> bool:
            return isinstance(e, InvoiceIssuedEvent) and any(
                ln.covers(day) for ln in service_lines(e.payload.invoice))

        if any(covering(e) for e in ahead):
            return None
        found = next((e for e in buffered if covering(e)), None)
        return f"invoice {found.payload.invoice.invoice_id}" if found else None

    async def amend(self, event: SubscriptionAmendedEvent) -> None:
        o, snap = self._o, self._o._snap
        a = event.payload.amendment
        if o._state not in (S.ACTIVE, S.PAST_DUE):
            o._intake.finding("IllegalEvent", event, f"amendment while {o._state}; "
                              "recorded, not applied")
            return
        if a.amendment_id in snap.amendments:
            o._intake.finding("DuplicateDocument", event, f"amendment {a.amendment_id} "
                              "was already applied")
            return
        later = [r for r in snap.amendment_log if r.amendment.effective_at > a.effective_at]
        if later and not await self._reverse(later, event):
            return
        await self._apply(a, event.event_id, event.correlation_id, 1)
        for record in sorted(later, key=lambda r: r.amendment.effective_at):
            await self._apply(record.amendment, record.event_id, record.correlation_id,
                              record.generation + 1)

    async def _apply(self, a: Amendment, event_id: str, correlation_id: str,
                     generation: int) -> None:
        o, snap = self._o, self._o._snap
        prior = o._state
        o._transition(S.AMENDING, event_id=event_id, note=f"generation {generation}")
        child_id = f"amendment-{a.amendment_id}" + (f"-g{generation}" if generation > 1 else "")
        # (amendments apply to an active entity: its subscription and customer are set)
        inp = AmendmentInput(amendment=a, subscription=cast("Subscription", snap.subscription),
                             customer=cast("CustomerAccount", snap.customer),
                             lines=own_lines_excluded(o, a), event_id=event_id,
                             correlation_id=correlation_id,
                             config=o._config, generation=generation,
                             invoice_rates=invoice_rates(o._invoices),
                             invoice_movements=invoice_movements(o._invoices))
        result: AmendmentResult | Skipped | None = None
        if versions.patched(o._config, PATCH_INLINE_AMENDMENT):
            result = await amend_inline(inp)
            if result is not None and result.rebill is not None:
                # What the child would have shown on its own record.
                o._upsert(search.INVOICE_POSTED_AT.value_set(workflow.now()))
        if result is None:  # a step failed for good: the flow compensates and parks
            result = await o._step("amendment", lambda _: workflow.execute_child_workflow(
                AmendmentFlow.run, inp, id=child_id, task_queue=o._config.task_queue))
            o._children.pop(child_id, None)
        if isinstance(result, Skipped) or result.state != AS.AMENDED:
            reason = result.reason if isinstance(result, Skipped) else result.skipped_reason
            o._intake.finding("AmendmentNotApplied", None, f"{a.amendment_id}: {reason}")
            o._transition(prior, event_id=event_id, note="amendment not applied")
            return
        assert isinstance(result, AmendmentResult)
        items_before = list(cast("Subscription", snap.subscription).items)
        snap.subscription = cast("Subscription", snap.subscription).model_copy(
            update={"items": result.items})
        snap.lines = replace_lines(snap.lines, result.ended_lines, result.new_lines)
        credit_invoices(o._invoices, result.credited)
        for invoice_id in result.credited:  # a credited invoice may be in dunning
            await tell_dunning(o, invoice_id, a.credit_memo_id)
        await tell_ladders_lines(o)
        if result.rebill is not None:
            before = o._invoices.get(result.rebill.invoice_id)
            add_invoice(o._invoices, result.rebill, rate=result.rebill_rate)
            if before is not None and before.status == InvoiceStatus.VOIDED and before.payments:
                # Issued again after a reversal: the payments of the reversed one apply.
                o._invoices[result.rebill.invoice_id] = o._invoices[
                    result.rebill.invoice_id].carrying_payments(before)
        snap.amendments[a.amendment_id] = a.effective_at
        external_ids = list(result.external_ids)
        if a.documents_upstream:
            # what the memo did (released nothing, or posted with a release) is kept
            release = snap.releases.get(a.credit_memo_id, DeferredRelease()).model_copy(
                update={"amount": result.released, "functional": result.released_functional})
            snap.releases[a.credit_memo_id] = release
            credited = next((ln.invoice_id for ln in result.ended_lines), None)
            released_id = (await release_after_memo(o, a, release, credited, generation,
                                                    correlation_id)
                           or await adjust_memo_release(o, a, release, credited, generation,
                                                        correlation_id))
            external_ids += [released_id] if released_id else []
        if result.credit_memo is not None:
            snap.applied.append(f"cm:{result.credit_memo.credit_memo_id}")
        snap.amendment_log.append(AppliedAmendment(
            amendment=a, event_id=event_id, correlation_id=correlation_id,
            generation=generation, items_before=items_before,
            external_ids=external_ids,
            ended_lines=[ln.model_copy(update={"ended_on": None}) for ln in result.ended_lines],
            new_lines=result.new_lines, credited=result.credited,
            rebill_id=result.rebill.invoice_id if result.rebill else None))
        del snap.amendment_log[:-LOG_KEEP]
        o._transition(prior, event_id=event_id, documents=result.documents,
                      note=f"amended by {a.amendment_id}")

    async def _reverse(self, later: list[AppliedAmendment], event: Any) -> bool:
        """Undo `later` newest first; False (with a finding) when it must not be done."""
        o = self._o
        paid = [r.rebill_id for r in later if r.rebill_id and r.rebill_id in o._invoices
                and not o._invoices[r.rebill_id].paid.is_zero()]
        ids = [r.amendment.amendment_id for r in later]
        if paid and not versions.patched(self._o._config, PATCH_REVERSE_PAID_REBILL):
            o._intake.finding("LateAmendment", event, f"effective before applied {ids}, whose "
                              f"rebill(s) {paid} have payments; not applied: an operator "
                              "must reverse them and resend")
            return False
        carried = (f"; the payments of rebill(s) {paid} stay with the customer and apply "
                   "to the rebill issued again" if paid else "")
        o._intake.finding("LateAmendment", event, f"effective before applied {ids}: they "
                          "are reversed, this one applied, then they are applied again"
                          + carried)
        await self._undo(later, event, f"reordered behind late amendment {event.event_id}")
        return True

    async def reverse_after_cancellation(self, event: Any, effective_on: dt.date) -> None:
        """A cancellation effective before applied amendments (it arrived late): they
        bill service after the end, so they are reversed and not applied again."""
        o = self._o
        later = [r for r in o._snap.amendment_log
                 if r.amendment.effective_at.astimezone(dt.UTC).date() >= effective_on]
        if not later or not versions.patched(self._o._config, PATCH_LATE_CANCELLATION):
            return
        ids = [r.amendment.amendment_id for r in later]
        paid = [r.rebill_id for r in later if r.rebill_id and r.rebill_id in o._invoices
                and not o._invoices[r.rebill_id].paid.is_zero()]
        o._intake.finding("LateCancellation", event, f"effective {effective_on}, before "
                          f"applied {ids}: they are reversed (no service after the end)"
                          + (f"; the payments of rebill(s) {paid} stay with the customer "
                             "as a credit" if paid else ""))
        await self._undo(later, event, f"cancellation {event.event_id} effective "
                                       f"{effective_on}")
        await self._tell_ladders_undone(later)

    async def _tell_ladders_undone(self, undone: list[AppliedAmendment]) -> None:
        """Ladders learn what the reversal re-opened: the retries and the write-off at
        their end take the invoice as it is again, and a reversed rebill's ladder stops as
        for a void. (A late amendment re-applies the reversed ones, whose credits tell the
        ladders again, so only a cancellation's reversal needs this.)"""
        o = self._o
        if not o._flows._running("dunning-") or not versions.patched(
                o._config, PATCH_LATE_CANCELLATION_TELLS_DUNNING):
            return
        for record in undone:
            memo = generation_id(f"cm:{record.amendment.credit_memo_id}", record.generation)
            for invoice_id in record.credited:
                await tell_dunning(o, invoice_id, f"rev-{memo}")
        await tell_ladders_lines(o)  # before the voids: a stopped ladder is not signalled
        for record in undone:
            if record.rebill_id:
                await tell_voided(o, record.rebill_id, "rebill reversed: the cancellation is "
                                                       "effective before its amendment")

    async def _undo(self, later: list[AppliedAmendment], event: Any, reason: str) -> None:
        """Reverse every document of `later`, newest first, and restore the entity's views."""
        o, snap = self._o, self._o._snap
        entity = cast("Subscription", snap.subscription).legal_entity
        for record in sorted(later, key=lambda r: r.amendment.effective_at, reverse=True):
            docs = []
            for external_id in reversed(record.external_ids):
                domain = (Domain.REVENUE if external_id.startswith(("sch:", "sche:"))
                          else Domain.RECEIVABLES)
                req = ReverseErpDocumentInput(
                    legal_entity=entity, domain=domain, external_id=external_id,
                    reversal_external_id=f"rev-{external_id}",
                    reason=reason,
                    correlation_id=record.correlation_id)
                # (mypy infers no lambda with defaults; `r` binds this iteration's request)
                outcome = await o._step(
                    f"reverse {external_id}",
                    lambda _, r=req: self._calls.reverse(r))  # type: ignore[misc]
                if not isinstance(outcome, Skipped):
                    docs.append(outcome.document_id)
            self._undo_views(record)
            o._record(str(o._state), event_id=event.event_id, documents=docs,
                      note=f"amendment {record.amendment.amendment_id} reversed")

    def _undo_views(self, record: AppliedAmendment) -> None:
        o, snap = self._o, self._o._snap
        new = {(ln.invoice_id, ln.line_id) for ln in record.new_lines}
        snap.lines = replace_lines([ln for ln in snap.lines
                                    if (ln.invoice_id, ln.line_id) not in new],
                                   record.ended_lines, [])
        credit_invoices(o._invoices, {k: -v for k, v in record.credited.items()})
        if record.rebill_id and record.rebill_id in o._invoices:
            view = o._invoices[record.rebill_id]
            # Fully credited by its reversal; its payments (if any) leave a customer credit
            # until the rebill is issued again (see _apply).
            o._invoices[record.rebill_id] = view.voided(view.total)
        snap.subscription = cast("Subscription", snap.subscription).model_copy(
            update={"items": record.items_before})
        del snap.amendments[record.amendment.amendment_id]
        snap.amendment_log.remove(record)
