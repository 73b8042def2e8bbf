"""Posting of billing documents (invoices, credit memos, payments, refunds) from the entity.

Documents that arrive together are posted together: taxes in parallel, journals by
local activities, then one ERP call per (legal entity, domain) for the whole batch.
If the batch is refused, each document is posted on its own so one bad document
parks alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.io import (
        CalculateTaxInput,
        CreditMemoJournalInput,
        InvoiceJournalInput,
        PaymentJournalInput,
        RefundJournalInput,
    )
    from adapters.erp.port import (
        CreditMemoPosting,
        ErpReceipt,
        InvoicePosting,
        JournalPosting,
        PaymentPosting,
        Posting,
        SchedulePosting,
    )
    from canonical.billing import Invoice, TaxResult
    from canonical.customer import CustomerAccount
    from canonical.events import (
        CreditMemoIssuedEvent,
        Event,
        InvoiceIssuedEvent,
        PaymentRefundedEvent,
        PaymentSucceededEvent,
        SubscriptionAmendedEvent,
    )
    from canonical.money import Money

from . import search, versions
from .calls import Calls
from .config import FlowConfig
from .flow import Skipped
from .ledger_view import invoice_movements, memo_settles, posted_view
from .postings import PATCH_ZERO_DOCUMENTS, invoice_books_nothing
from .subscription_state import DeferredRelease, InvoiceStatus, InvoiceView
from .subscription_view import amounts

if TYPE_CHECKING:
    from .flow import Flow

DOCUMENT_EVENTS = {"invoice.issued", "payment.succeeded", "credit_memo.issued",
                   "payment.refunded"}


# The step a document's posting parks at: its first word is the ParkedStep search
# attribute ("which payments failed to apply": ParkedStep = 'apply_payment').
STEP_OF = {"invoice.issued": "post_invoice", "payment.succeeded": "apply_payment",
           "credit_memo.issued": "post_credit_memo", "payment.refunded": "post_refund"}


def is_document_event(event: Event) -> bool:
    return event.event_type in DOCUMENT_EVENTS


def _books_nothing(event: Event) -> bool:
    """An invoice or credit memo whose every line (and tax) is 0: no journal can book it."""
    if isinstance(event, InvoiceIssuedEvent):
        return invoice_books_nothing(event.payload.invoice)
    if isinstance(event, CreditMemoIssuedEvent):
        return all(ln.amount.is_zero() and ln.tax_amount.is_zero()
                   for ln in event.payload.credit_memo.lines)
    return False


def step_of(event: Event) -> str:
    return f"{STEP_OF[event.event_type]} {event.event_id}"


def _invoice_of(event: Event) -> str | None:
    """The invoice a payment, refund or credit memo applies to."""
    if isinstance(event, PaymentSucceededEvent):
        return event.payload.payment.invoice_id
    if isinstance(event, PaymentRefundedEvent):
        return event.payload.refund.invoice_id
    if isinstance(event, CreditMemoIssuedEvent):
        return event.payload.credit_memo.invoice_id
    return None


def _moved(event: Event, view: InvoiceView) -> InvoiceView:
    """The view of the invoice a payment, refund or credit memo applies to, after it."""
    if isinstance(event, PaymentSucceededEvent):
        p = event.payload.payment
        return view.with_payment(p.payment_id, p.amount)
    if isinstance(event, PaymentRefundedEvent):
        r = event.payload.refund
        return view.with_payment(r.refund_id, -r.amount)
    if isinstance(event, CreditMemoIssuedEvent):
        return view.with_credit(event.payload.credit_memo.total)
    return view


class DocumentPoster:
    def __init__(self, owner: Flow, config: FlowConfig, invoices: dict[str, InvoiceView],
                 customer: Callable[[], CustomerAccount | None],
                 on_invoice: Callable[[Invoice], None] | None = None,
                 on_applied: Callable[[Event], None] | None = None,
                 releases: dict[str, DeferredRelease] | None = None,
                 buffered: Callable[[], list[Event]] | None = None) -> None:
        self._owner = owner
        self._config = config
        self._calls = Calls(config)
        self._invoices = invoices
        self._customer = customer
        # Told of every posted invoice (with its tax): the entity keeps its service lines.
        self._on_invoice = on_invoice
        # Told of every document the ERP has taken (the entity measures payment latency).
        self._on_applied = on_applied
        # Invoice views as the documents built so far in this batch will leave them (an
        # invoice built in it has one before it is posted: its booking rate).
        self._projected: dict[str, InvoiceView] = {}
        # Upstream-billed amendments (canonical Amendment.documents_upstream): what their
        # schedule ends released, by credit memo id, and the events still buffered.
        self._releases = releases if releases is not None else {}
        self._buffered = buffered or list

    def waiting_for(self, event: Event, ahead: list[Event]) -> str | None:
        if isinstance(event, CreditMemoIssuedEvent):
            # The credit memo of an upstream-billed amendment posts after the amendment
            # ended the schedules it credits (it releases exactly what they gave up).
            memo_id = event.payload.credit_memo.credit_memo_id
            if any(isinstance(e, SubscriptionAmendedEvent)
                   and e.payload.amendment.documents_upstream
                   and e.payload.amendment.credit_memo_id == memo_id
                   for e in self._buffered()):
                return f"amendment with credit memo {memo_id}"
        invoice_id = _invoice_of(event)
        if invoice_id is None or invoice_id in self._invoices:
            return None
        if any(isinstance(e, InvoiceIssuedEvent) and e.payload.invoice.invoice_id == invoice_id
               for e in ahead):
            return None
        return f"invoice {invoice_id}"

    async def post(self, events: list[Event]) -> None:
        zero = [e for e in events if _books_nothing(e)]
        if zero and versions.patched(self._config, PATCH_ZERO_DOCUMENTS):
            for event in zero:
                self._nothing_to_book(event)
            events = [e for e in events if e not in zero]
            if not events:
                return
        taxes = await self._taxes(events)
        if isinstance(taxes, Skipped):
            for event in events:
                self._owner._record(str(self._owner._state), event_id=event.event_id,
                                    note=f"not posted: tax skipped ({taxes.reason})")
            return
        self._projected = {}
        per_event = [await self._postings(e, taxes) for e in events]
        flat = [p for group in per_event for p in group]
        try:
            receipts = await self._calls.post_grouped(flat, self._owner._correlation_id)
        except ActivityError as err:
            if len(events) > 1:
                for event, postings in zip(events, per_event, strict=True):
                    await self._post_alone(event, postings)
                return
            outcome = await self._owner._step(step_of(events[0]), self._poster(flat),
                                              failed=err)
            if isinstance(outcome, Skipped):
                self._skipped(events[0], outcome)
                return
            receipts = outcome
        for event, postings in zip(events, per_event, strict=True):
            self._applied(event, postings, receipts)

    def _poster(self, postings: list[Posting]
                ) -> Callable[[Any], Awaitable[dict[str, ErpReceipt]]]:
        return lambda _: self._calls.post_grouped(postings, self._owner._correlation_id)

    async def _post_alone(self, event: Event, postings: list[Posting]) -> None:
        outcome = await self._owner._step(step_of(event), self._poster(postings))
        if isinstance(outcome, Skipped):
            self._skipped(event, outcome)
        else:
            self._applied(event, postings, outcome)

    async def _taxes(self, events: list[Event]) -> dict[str, TaxResult] | Skipped:
        customer = self._customer()
        todo = [e.payload.invoice for e in events
                if isinstance(e, InvoiceIssuedEvent) and e.payload.invoice.tax is None]
        if not todo:
            return {}
        assert customer is not None  # invoices wait for activation
        ship_to = (customer.sold_to or customer.bill_to).address
        cid = self._owner._correlation_id

        async def calculate(_: Any) -> dict[str, TaxResult]:
            results = await asyncio.gather(*[
                self._calls.calculate_tax(CalculateTaxInput(invoice=inv, ship_to=ship_to,
                                                            correlation_id=cid))
                for inv in todo])
            return {inv.invoice_id: r for inv, r in zip(todo, results, strict=True)}

        return await self._owner._step("calculate_tax", calculate)

    async def _postings(self, event: Event, taxes: dict[str, TaxResult]) -> list[Posting]:
        cid = event.correlation_id
        calls = self._calls
        if isinstance(event, InvoiceIssuedEvent):
            inv = event.payload.invoice
            tax = inv.tax or taxes[inv.invoice_id]
            built = await calls.invoice_journal(InvoiceJournalInput(invoice=inv, tax=tax,
                                                                    correlation_id=cid))
            taxed = inv.model_copy(update={"tax": tax})
            self._projected[inv.invoice_id] = posted_view(taxed, built.entry.rate)
            postings: list[Posting] = [InvoicePosting(
                external_id=built.entry.external_id, invoice=taxed, entry=built.entry)]
            postings += [SchedulePosting(external_id=f"sch:{s.schedule_id}", schedule=s)
                         for s in built.schedules]
            return postings
        view = self._project(event)
        rate = view.rate if view else None
        if isinstance(event, PaymentSucceededEvent):
            p = event.payload.payment
            entry = await calls.payment_journal(PaymentJournalInput(
                payment=p, correlation_id=cid, invoice_rate=rate,
                settles=view.settled_by(p.amount) if view else None))
            return [PaymentPosting(external_id=entry.external_id, payment=p, entry=entry)]
        if isinstance(event, CreditMemoIssuedEvent):
            memo = event.payload.credit_memo
            # A memo of an upstream-billed amendment releases what its schedule ends gave
            # up; any other (a service credit, a correction) ends no schedule, so it
            # releases nothing and reverses revenue: deferred revenue keeps tying.
            release = self._releases.get(memo.credit_memo_id)
            settles = memo_settles(memo, invoice_movements({view.invoice_id: view})
                                   if view else {})
            entry = await calls.credit_memo_journal(CreditMemoJournalInput(
                credit_memo=memo, correlation_id=cid, invoice_rate=rate,
                deferred_release=(release.amount if release and release.amount is not None
                                  else Money.zero(memo.currency)),
                deferred_release_functional=release.functional if release else None,
                settles=settles))
            return [CreditMemoPosting(external_id=entry.external_id, credit_memo=memo,
                                      entry=entry)]
        assert isinstance(event, PaymentRefundedEvent)
        entry = await calls.refund_journal(RefundJournalInput(
            refund=event.payload.refund, correlation_id=cid, invoice_rate=rate))
        return [JournalPosting(external_id=entry.external_id, entry=entry)]

    def _project(self, event: Event) -> InvoiceView | None:
        """The view of the invoice `event` applies to, before it (after the batch's earlier
        documents); the view after it is kept for the batch's later documents."""
        key = _invoice_of(event) or ""
        view = self._projected.get(key) or self._invoices.get(key)
        if view is not None:
            self._projected[key] = _moved(event, view)
        return view

    # --- bookkeeping of what was posted ---------------------------------------------------

    def _applied(self, event: Event, postings: list[Posting],
                 receipts: dict[str, ErpReceipt]) -> None:
        docs = [receipts[p.external_id].document_id for p in postings]
        note = self._update_invoices(event, postings[0], receipts[postings[0].external_id])
        moved = [f"{r.external_id} posted in {r.posted_period} (its period is locked)"
                 for p in postings if (r := receipts[p.external_id]).posted_period]
        if moved:
            note += "; FLAG " + "; ".join(moved)
        self._owner._record(str(self._owner._state), event_id=event.event_id, note=note,
                            documents=docs)
        if self._on_applied is not None:
            self._on_applied(event)
        posted_at = ([search.INVOICE_POSTED_AT.value_set(workflow.now())]
                     if isinstance(postings[0], InvoicePosting) else [])
        self._owner._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.POSTED),
                            self._owner._with_documents(docs), *amounts(self._invoices),
                            *posted_at)

    def _update_invoices(self, event: Event, first: Posting, receipt: ErpReceipt) -> str:
        view: InvoiceView | None
        if isinstance(first, InvoicePosting):
            inv = first.invoice  # with its tax
            view = posted_view(inv, first.entry.rate, receipt.document_id)
            self._invoices[inv.invoice_id] = view
            if self._on_invoice is not None:
                self._on_invoice(inv)
            return f"invoice {inv.invoice_id} posted ({view.total})"
        if isinstance(event, CreditMemoIssuedEvent):  # see DeferredRelease
            memo_id = event.payload.credit_memo.credit_memo_id
            release = self._releases.setdefault(memo_id, DeferredRelease(released_nothing=True))
            if release.amount is not None and release.memo_posted is None:
                self._releases[memo_id] = release.model_copy(update={
                    "memo_posted": release.amount,
                    "memo_posted_functional": release.functional})
        invoice_id = _invoice_of(event)
        view = self._invoices[invoice_id] if invoice_id else None
        if view is None:
            return f"{event.event_type} {event.event_id} posted"
        self._invoices[view.invoice_id] = _moved(event, view)
        if isinstance(event, PaymentSucceededEvent):
            p = event.payload.payment
            return f"payment {p.payment_id} of {p.amount} applied to {view.invoice_id}"
        if isinstance(event, PaymentRefundedEvent):
            r = event.payload.refund
            return f"refund {r.refund_id} of {r.amount} on {view.invoice_id}"
        assert isinstance(event, CreditMemoIssuedEvent)
        memo = event.payload.credit_memo
        return f"credit memo {memo.credit_memo_id} of {memo.total} on {view.invoice_id}"

    def _nothing_to_book(self, event: Event) -> None:
        """A document of nothing at all (a free plan's invoice, a credit of 0): no journal
        has a line to book, so it posts nothing; an invoice is still the entity's, paid
        by its nothing, its lines kept for a later amendment's proration."""
        if isinstance(event, InvoiceIssuedEvent):
            inv = event.payload.invoice
            zero = Money.zero(inv.currency)
            if inv.tax is None:  # nothing to tax: no call to the tax engine
                inv = inv.model_copy(update={"tax": TaxResult(
                    provider="none", calculation_id=f"zero:{inv.invoice_id}", lines=[],
                    total=zero, calculated_at=workflow.now())})
            self._invoices[inv.invoice_id] = posted_view(inv).model_copy(
                update={"status": InvoiceStatus.PAID})
            if self._on_invoice is not None:
                self._on_invoice(inv)
            note = f"invoice {inv.invoice_id} of {zero}: nothing to book, nothing due"
        else:
            note = f"{event.event_type} {event.event_id} of nothing: nothing to book"
        self._owner._record(str(self._owner._state), event_id=event.event_id, note=note)
        if self._on_applied is not None:
            self._on_applied(event)
        self._owner._upsert(*amounts(self._invoices))

    def _skipped(self, event: Event, outcome: Skipped) -> None:
        if isinstance(event, InvoiceIssuedEvent):
            inv = event.payload.invoice
            self._invoices[inv.invoice_id] = InvoiceView(
                invoice_id=inv.invoice_id, total=Money.zero(inv.currency),
                paid=Money.zero(inv.currency), credited=Money.zero(inv.currency),
                status=InvoiceStatus.SKIPPED)
        self._owner._record(str(self._owner._state), event_id=event.event_id,
                            note=f"{event.event_type} skipped by operator: {outcome.reason}")
