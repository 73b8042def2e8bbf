"""Building blocks the order-to-cash flows share: invoice postings, reversals, timers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.io import (
        CalculateTaxInput,
        CreditMemoJournalInput,
        InvoiceJournalInput,
        ReverseErpDocumentInput,
    )
    from adapters.erp.port import (
        CreditMemoPosting,
        ErpReceipt,
        InvoicePosting,
        Posting,
        SchedulePosting,
    )
    from adapters.erp.routing import Domain
    from canonical.billing import CreditMemo, Invoice
    from canonical.customer import CustomerAccount
    from canonical.money import Money, total
    from canonical.proration import ServiceLine, service_lines

from .calls import Calls
from .flow import is_permanent
from .ledger_view import memo_settles
from .saga import Compensations, generation_id


def ship_to(customer: CustomerAccount) -> Any:
    return (customer.sold_to or customer.bill_to).address


def midnight(day: dt.date) -> dt.datetime:
    """Business dates become workflow times at 00:00 UTC."""
    return dt.datetime.combine(day, dt.time(0), dt.UTC)


def utc_date(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def until(at: dt.datetime) -> dt.timedelta | None:
    """How long from now to `at`; None when it has passed."""
    left = at - workflow.now()
    return left if left > dt.timedelta(0) else None


def reverser(calls: Calls, legal_entity: str, domain: Domain, external_id: str,
             reversal_id: str, reason: str, correlation_id: str
             ) -> Callable[[], Awaitable[ErpReceipt]]:
    """The compensation of a posting: the ERP's exact reversing entry, idempotent by id."""
    return lambda: calls.reverse(ReverseErpDocumentInput(
        legal_entity=legal_entity, domain=domain, external_id=external_id,
        reversal_external_id=reversal_id, reason=reason, correlation_id=correlation_id))


async def taxed(calls: Calls, invoice: Invoice, customer: CustomerAccount,
                correlation_id: str) -> Invoice:
    """The invoice with the tax engine's result (kept with it for audit)."""
    if invoice.tax is not None:
        return invoice
    tax = await calls.calculate_tax(CalculateTaxInput(invoice=invoice, ship_to=ship_to(customer),
                                                      correlation_id=correlation_id))
    return invoice.model_copy(update={"tax": tax})


# Workflow patch: an invoice or credit memo of nothing (every line and its tax 0) posts
# nothing; before, its journal of no lines failed to build and the document parked.
PATCH_ZERO_DOCUMENTS = "zero-documents-book-nothing"


def invoice_books_nothing(invoice: Invoice) -> bool:
    """Every line and the tax 0 (a free plan, a 100 % discount): no journal can book it."""
    return all(ln.amount.is_zero() for ln in invoice.lines) and invoice.tax_total.is_zero()


async def invoice_postings(calls: Calls, invoice: Invoice, generation: int,
                           correlation_id: str) -> tuple[list[Posting], list[ServiceLine]]:
    """The invoice and its schedules as postings (ids of a later generation suffixed)."""
    built = await calls.invoice_journal(InvoiceJournalInput(invoice=invoice, tax=invoice.tax,
                                                            correlation_id=correlation_id))
    entry = built.entry.model_copy(update={
        "external_id": generation_id(built.entry.external_id, generation)})
    postings: list[Posting] = [InvoicePosting(external_id=entry.external_id, invoice=invoice,
                                              entry=entry)]
    renamed: dict[str, str] = {}
    for s in built.schedules:
        schedule_id = generation_id(s.schedule_id, generation)
        renamed[s.schedule_id] = schedule_id
        postings.append(SchedulePosting(external_id=f"sch:{schedule_id}",
                                        schedule=s.model_copy(update={"schedule_id": schedule_id})))
    lines = [ln.model_copy(update={"schedule_id": renamed.get(ln.schedule_id or "")})
             for ln in service_lines(invoice)]
    return postings, lines


def booking_rate(postings: list[Posting]) -> Decimal | None:
    """The booking rate of the invoice among `postings` (None in functional currency)."""
    return next((p.entry.rate for p in postings if isinstance(p, InvoicePosting)), None)


def released_by(receipts: dict[str, ErpReceipt], currency: str
                ) -> tuple[Money | None, Money | None]:
    """The deferral the ERP released by ending schedules: (transaction, functional).

    None where a receipt did not say (the credit memo then takes its net as released);
    the functional amount only for foreign-currency schedules, at their deferred rate.
    """
    amounts = [r.amount for r in receipts.values()]
    if not amounts or any(a is None for a in amounts):
        return None, None
    released = total((a for a in amounts if a is not None), currency)
    functional = [r.functional_amount for r in receipts.values()]
    if any(f is None for f in functional):
        return released, None
    found = [f for f in functional if f is not None]
    return released, total(found, found[0].currency)


def invoice_external_ids(invoice: Invoice, generation: int) -> list[tuple[Domain, str]]:
    """What `invoice_postings` will post: the invoice, then one schedule per service line."""
    ids = [(Domain.RECEIVABLES, generation_id(f"inv:{invoice.invoice_id}", generation))]
    ids += [(Domain.REVENUE, f"sch:{generation_id(ln.schedule_id, generation)}")
            for ln in service_lines(invoice) if ln.schedule_id]
    return ids


def push_reversals(saga: Compensations, calls: Calls, legal_entity: str,
                   ids: list[tuple[Domain, str]], reason: str, correlation_id: str) -> None:
    """Register the reversal of each posting (`rev-<external id>`), undone newest first.

    Pushed before the posting is attempted: reversing what never got posted is a
    not-found, which the saga takes as nothing to undo.
    """
    for domain, external_id in ids:
        saga.push(f"reverse {external_id}", reverser(
            calls, legal_entity, domain, external_id, f"rev-{external_id}", reason,
            correlation_id), external_id)


async def post_landed(calls: Calls, saga: Compensations, postings: list[Posting],
                      correlation_id: str) -> dict[str, ErpReceipt]:
    """Post as one batch per ERP, recording in `saga.landed` what the ERP accepted.

    The ERP takes a batch item by item, so when it refuses one for good the others
    may have landed: each is then posted alone (a repeat answers duplicate) to learn
    which, before the refusal propagates.
    """
    try:
        receipts = await calls.post_grouped(postings, correlation_id)
    except (ActivityError, ApplicationError) as err:
        if not is_permanent(err) or len(postings) == 1:
            raise
        for p in postings:
            try:
                saga.landed.update(await calls.post_grouped([p], correlation_id))
            except (ActivityError, ApplicationError) as alone:
                if not is_permanent(alone):
                    raise
        raise
    saga.landed.update(receipts)
    return receipts


def credit_memo_step(calls: Calls, saga: Compensations, memo: CreditMemo, generation: int,
                     legal_entity: str, reason: str, correlation_id: str,
                     released: Money | None, released_functional: Money | None,
                     invoice_rates: dict[str, Decimal],
                     invoice_movements: dict[str, list[Decimal]]
                     ) -> Callable[[Any], Awaitable[dict[str, ErpReceipt]]]:
    """A credit memo's posting step for `Flow._step`, its reversal registered first.

    The journal releases `released` deferred revenue (at its deferred functional amount)
    and books each credited invoice's part at that invoice's rate; a part that settles
    its invoice relieves exactly what its movements left (ledger_view.memo_settles).
    Movements that are out of date still pin it right: those known were booked, and a
    later one stays on the receivable as booked.
    """
    cm_id = generation_id(f"cm:{memo.credit_memo_id}", generation)
    push_reversals(saga, calls, legal_entity, [(Domain.RECEIVABLES, cm_id)], reason,
                   correlation_id)

    async def post(_: Any) -> dict[str, ErpReceipt]:
        entry = await calls.credit_memo_journal(CreditMemoJournalInput(
            credit_memo=memo, correlation_id=correlation_id, deferred_release=released,
            deferred_release_functional=released_functional, invoice_rates=invoice_rates,
            settles=memo_settles(memo, invoice_movements)))
        entry = entry.model_copy(update={"external_id": cm_id})
        return await post_landed(calls, saga, [CreditMemoPosting(
            external_id=cm_id, credit_memo=memo, entry=entry)], correlation_id)

    return post
