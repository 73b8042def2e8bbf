"""Rules for documents that arrive late, twice, or after what they depend on changed.

* A document already applied under its business key (an invoice id, a payment or
  refund id, a credit memo id) is a duplicate even when its event id is new or has
  left the bounded dedup window: recorded as a finding, not posted again.
* A payment for an invoice dunning wrote off first reverses the write-off
  (`rev-wo:{invoice_id}`, a bad-debt recovery), then applies as usual.
* A payment, refund or credit memo of an invoice in dunning tells the ladder what is due
  now (it ends when nothing is): it collects and writes off no more than is open.
* A void reverses the invoice and its revenue schedules in the ERP, unless payments
  were applied to it (then it is an illegal event: billing must credit it instead),
  and stops the invoice's dunning ladder (nothing is left to collect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import ReverseErpDocumentInput
    from adapters.erp.routing import Domain
    from canonical.events import (
        CreditMemoIssuedEvent,
        Event,
        InvoiceIssuedEvent,
        InvoiceVoidedEvent,
        PaymentRefundedEvent,
        PaymentSucceededEvent,
    )
    from canonical.money import Money
    from canonical.posting import write_off_external_id

from . import versions
from .calls import Calls
from .dunning import DunningFlow
from .dunning_state import PaymentNotice
from .flow import Skipped
from .ledger_view import replace_lines
from .subscription_state import InvoiceStatus

if TYPE_CHECKING:
    from canonical.subscription import Subscription

    from .subscription import SubscriptionWorkflow

# Workflow patch: a void signals the invoice's running dunning ladder to stop.
PATCH_VOID_STOPS_DUNNING = "void-stops-dunning"
# Workflow patch: a credit memo or refund of a dunned invoice tells its ladder what is due.
PATCH_DOCUMENTS_TELL_DUNNING = "documents-tell-dunning"


def collected_key(payment_id: str) -> str:
    """The entity's mark of a payment its dunning collected (snap.applied): the payment
    gateway's webhook of it, under the same id, is expected, not a duplicate to flag."""
    return f"collected:{payment_id}"


async def tell_dunning(o: SubscriptionWorkflow, invoice_id: str, document_id: str,
                       payment: bool = False) -> None:
    """Tell the invoice's running dunning ladder what is due after `document_id` moved its
    receivable (a payment, refund, credit memo, or an amendment's credit). Payments were
    told before PATCH_DOCUMENTS_TELL_DUNNING, the others only with it."""
    child_id = f"dunning-{invoice_id}"
    view = o._invoices.get(invoice_id)
    if child_id not in o._children or view is None or not (
            payment or versions.patched(o._config, PATCH_DOCUMENTS_TELL_DUNNING)):
        return
    await o._flows._signal(child_id, DunningFlow.payment_received, PaymentNotice(
        payment_id=document_id, open_amount=view.open_amount, movements=view.settled_by()))


async def tell_voided(o: SubscriptionWorkflow, invoice_id: str, reason: str) -> None:
    """The invoice's running ladder ends Voided: the invoice was reversed in the ERP."""
    child_id = f"dunning-{invoice_id}"
    if child_id in o._children and versions.patched(o._config, PATCH_VOID_STOPS_DUNNING):
        await o._flows._signal(child_id, DunningFlow.invoice_voided, reason)


async def tell_ladders_lines(o: SubscriptionWorkflow) -> None:
    """Running ladders learn the service lines after an amendment or a new invoice changed
    them: the cancellation at a ladder's end credits what is unused of these."""
    ladders = o._flows._running("dunning-")
    if ladders and versions.patched(o._config, PATCH_DOCUMENTS_TELL_DUNNING):
        for child_id in ladders:
            await o._flows._signal(child_id, DunningFlow.service_changed, o._snap.lines)


def _moves_receivable(event: Event) -> tuple[str, str] | None:
    """(invoice, document) of a payment, refund or credit memo that names its invoice."""
    if isinstance(event, PaymentSucceededEvent):
        p = event.payload.payment
        return p.invoice_id, p.payment_id
    if isinstance(event, PaymentRefundedEvent):
        r = event.payload.refund
        return (r.invoice_id, r.refund_id) if r.invoice_id else None
    if isinstance(event, CreditMemoIssuedEvent):
        memo = event.payload.credit_memo
        return (memo.invoice_id, memo.credit_memo_id) if memo.invoice_id else None
    return None


def _invoice_money(event: Event) -> tuple[str, Money, str] | None:
    """(invoice, amount, what) of a payment, refund or credit memo naming its invoice."""
    if isinstance(event, PaymentSucceededEvent):
        p = event.payload.payment
        return p.invoice_id, p.amount, f"payment {p.payment_id}"
    if isinstance(event, PaymentRefundedEvent):
        r = event.payload.refund
        return (r.invoice_id, r.amount, f"refund {r.refund_id}") if r.invoice_id else None
    if isinstance(event, CreditMemoIssuedEvent):
        memo = event.payload.credit_memo
        return ((memo.invoice_id, memo.total, f"credit memo {memo.credit_memo_id}")
                if memo.invoice_id else None)
    return None


class DocumentRules:
    def __init__(self, owner: SubscriptionWorkflow) -> None:
        self._o = owner
        self._calls = Calls(owner._config)

    def duplicate(self, event: Event) -> bool:
        """True (with a finding) when the event's document was already applied."""
        o = self._o
        key: str | None = None
        if isinstance(event, InvoiceIssuedEvent):
            inv = event.payload.invoice.invoice_id
            key = f"invoice {inv}" if inv in o._invoices else None
        elif isinstance(event, PaymentSucceededEvent):
            p = event.payload.payment
            view = o._invoices.get(p.invoice_id)
            key = f"payment {p.payment_id}" if view and p.payment_id in view.payments else None
            if key and collected_key(p.payment_id) in o._snap.applied:
                o._record(str(o._state), event_id=event.event_id,
                          note=f"payment {p.payment_id} was collected by dunning: the "
                               "billing system's notice of it is already in the books")
                return True
        elif isinstance(event, PaymentRefundedEvent):
            r = event.payload.refund
            view = o._invoices.get(r.invoice_id or "")
            key = f"refund {r.refund_id}" if view and r.refund_id in view.payments else None
        elif isinstance(event, CreditMemoIssuedEvent):
            memo = event.payload.credit_memo.credit_memo_id
            key = f"credit memo {memo}" if f"cm:{memo}" in o._snap.applied else None
        if key is None:
            return False
        o._intake.finding("DuplicateDocument", event, f"{key} was already applied; not posted")
        return True

    def foreign_to_invoice(self, event: Event, ahead: list[Event]) -> bool:
        """True (with a finding) when a payment, refund or credit memo is in another currency
        than the invoice it applies to (`ahead`: the batch's documents before it): it
        cannot move that receivable. No patch: the code before this failed the workflow
        task on such an event (adding two currencies), so no history applies one."""
        found = _invoice_money(event)
        if found is None:
            return False
        invoice_id, money, what = found
        view = self._o._invoices.get(invoice_id)
        currency = view.total.currency if view is not None else next(
            (e.payload.invoice.currency for e in ahead if isinstance(e, InvoiceIssuedEvent)
             and e.payload.invoice.invoice_id == invoice_id), None)
        if currency is None or currency == money.currency:
            return False
        self._o._intake.finding("IllegalEvent", event, (
            f"{what} is in {money.currency}, invoice {invoice_id} in {currency}; recorded, "
            "not applied"))
        return True

    async def before(self, batch: list[Event]) -> None:
        for event in batch:
            if isinstance(event, PaymentSucceededEvent):
                invoice_id = event.payload.payment.invoice_id
                if invoice_id in self._o._snap.written_off:
                    await self._reverse_write_off(event, invoice_id)

    async def _reverse_write_off(self, event: Event, invoice_id: str) -> None:
        o = self._o
        amount = o._snap.written_off[invoice_id]
        external_id = write_off_external_id(invoice_id)
        outcome = await o._step(f"reverse write-off {invoice_id}", lambda _: self._calls.reverse(
            ReverseErpDocumentInput(
                legal_entity=cast("Subscription", o._snap.subscription).legal_entity,
                domain=Domain.RECEIVABLES,
                external_id=external_id, reversal_external_id=f"rev-{external_id}",
                reason=f"payment {event.event_id} after write-off",
                correlation_id=o._correlation_id)))
        if isinstance(outcome, Skipped):
            return
        del o._snap.written_off[invoice_id]
        before = o._snap.written_off_movements.pop(invoice_id, None)
        o._invoices[invoice_id] = o._invoices[invoice_id].reopened(amount, before)
        o._intake.finding("PaymentAfterWriteOff", event,
                          f"write-off of {invoice_id} ({amount}) reversed before the payment")
        o._record(str(o._state), event_id=event.event_id, documents=[outcome.document_id],
                  note=f"write-off of {invoice_id} reversed")

    async def after(self, batch: list[Event]) -> None:
        o = self._o
        for event in batch:
            if isinstance(event, CreditMemoIssuedEvent):
                o._snap.applied.append(f"cm:{event.payload.credit_memo.credit_memo_id}")
            moved = _moves_receivable(event)
            if moved is not None:
                await tell_dunning(o, *moved, payment=isinstance(event, PaymentSucceededEvent))
        if any(isinstance(e, InvoiceIssuedEvent) for e in batch):
            await tell_ladders_lines(o)

    async def void(self, event: InvoiceVoidedEvent) -> None:
        o = self._o
        invoice_id = event.payload.invoice_id
        view = o._invoices[invoice_id]  # the event waits until the invoice is known
        if view.status == InvoiceStatus.VOIDED:
            o._intake.finding("DuplicateDocument", event, f"invoice {invoice_id} is voided")
            return
        if not view.paid.is_zero() or view.status == InvoiceStatus.WRITTEN_OFF:
            o._intake.finding("IllegalEvent", event, f"invoice {invoice_id} has payments or a "
                              "write-off; credit it instead of voiding it")
            return
        entity = cast("Subscription", o._snap.subscription).legal_entity
        lines = [ln for ln in o._snap.lines if ln.invoice_id == invoice_id]
        targets = [(Domain.RECEIVABLES, f"inv:{invoice_id}")] + [
            (Domain.REVENUE, f"sch:{ln.schedule_id}") for ln in lines if ln.schedule_id]
        docs: list[str] = []
        for domain, external_id in targets:
            # (mypy infers no lambda with defaults; they bind this iteration's values)
            outcome = await o._step(f"void {external_id}",
                                    lambda _, d=domain, x=external_id:  # type: ignore[misc]
                                    self._calls.reverse(ReverseErpDocumentInput(
                                        legal_entity=entity, domain=d, external_id=x,
                                        reversal_external_id=f"rev-{x}",
                                        reason=f"voided: {event.payload.reason}",
                                        correlation_id=event.correlation_id)))
            if not isinstance(outcome, Skipped):
                docs.append(outcome.document_id)
        o._invoices[invoice_id] = view.voided(view.total - view.paid)
        ended = [ln.model_copy(update={"ended_on": ln.period_start}) for ln in lines]
        o._snap.lines = replace_lines(o._snap.lines, ended, [])
        o._record(str(o._state), event_id=event.event_id, documents=docs,
                  note=f"invoice {invoice_id} voided and reversed")
        await tell_voided(o, invoice_id, event.payload.reason or "voided")
