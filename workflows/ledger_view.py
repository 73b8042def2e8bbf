"""The entity's view of its invoices and service lines, updated by what flows posted."""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.billing import Invoice
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
