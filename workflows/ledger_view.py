"""The entity's view of its invoices and service lines, updated by what flows posted."""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.billing import CreditMemo, Invoice
    from canonical.fx import credited_parts
    from canonical.money import Money
    from canonical.proration import ServiceLine

from .subscription_state import InvoiceStatus, InvoiceView

LINES_KEEP = 200  # newest service lines carried (older ones have long ended)


def posted_view(invoice: Invoice, rate: Decimal | None = None,
                document_id: str | None = None) -> InvoiceView:
    """The view of a just-posted invoice (with its tax): nothing paid or credited yet."""
    zero = Money.zero(invoice.currency)
    return InvoiceView(
        invoice_id=invoice.invoice_id, total=invoice.total, paid=zero, credited=zero,
        status=InvoiceStatus.POSTED, erp_document_id=document_id, rate=rate,
        movements=[invoice.total.amount] if rate is not None else None)


def add_invoice(invoices: dict[str, InvoiceView], invoice: Invoice,
                document_id: str | None = None, rate: Decimal | None = None) -> None:
    """An invoice a flow posted (rebill, renewal), with its tax and booking rate."""
    invoices[invoice.invoice_id] = posted_view(invoice, rate, document_id)


def invoice_rates(invoices: dict[str, InvoiceView]) -> dict[str, Decimal]:
    """Booking rates of the foreign-currency invoices, for flows that credit or collect."""
    return {i: v.rate for i, v in invoices.items() if v.rate is not None}


def invoice_movements(invoices: dict[str, InvoiceView]) -> dict[str, list[Decimal]]:
    """What moved each foreign-currency receivable the entity knows the movements of, for
    flows that credit it (a credit memo that settles one relieves exactly what is left)."""
    return {i: v.movements for i, v in invoices.items()
            if v.rate is not None and v.movements is not None}


def memo_settles(memo: CreditMemo, movements: dict[str, list[Decimal]]
                 ) -> dict[str, list[Decimal]]:
    """Per invoice `memo` settles (its part, tax included, is all that is open: the sum of
    the receivable's movements), those movements."""
    return {key: movements[key] for key, (net, tax) in credited_parts(memo).items()
            if key in movements and net + tax == sum(movements[key], Decimal(0))}


def credit_invoices(invoices: dict[str, InvoiceView], credited: dict[str, Money]) -> None:
    for invoice_id, amount in credited.items():
        if invoice_id in invoices:
            invoices[invoice_id] = invoices[invoice_id].with_credit(amount)


def replace_lines(lines: list[ServiceLine], ended: list[ServiceLine],
                  new: list[ServiceLine]) -> list[ServiceLine]:
    """Lines with the `ended` ones replaced (same invoice and line id) and `new` added."""
    by_key = {(ln.invoice_id, ln.line_id): ln for ln in ended}
    kept = [by_key.get((ln.invoice_id, ln.line_id), ln) for ln in lines]
    return (kept + list(new))[-LINES_KEEP:]
