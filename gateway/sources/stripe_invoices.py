"""Stripe invoices mapped to canonical invoices (and the credit memos of their proration lines).

An invoice's lines, amounts and taxes never change once Stripe finalizes it, so every
later event about a finalized invoice (paid, payment failed, voided) carries the same
invoice: each of them also emits its `invoice.issued` (same canonical id), so the invoice
reaches the entity before its payment or void whichever Stripe delivers first.
"""

from __future__ import annotations

from decimal import Decimal

from canonical.billing import (
    BillingReason,
    CreditMemo,
    CreditMemoLine,
    Invoice,
    InvoiceLine,
    LineKind,
    TaxLine,
    TaxResult,
)
from canonical.customer import CustomerAccount
from canonical.events import (
    CreditMemoIssued,
    CreditMemoIssuedEvent,
    InvoiceIssued,
    InvoiceIssuedEvent,
)
from canonical.money import total

from .base import Route
from .stripe_context import Context
from .stripe_fields import (
    Node,
    currency_of,
    day,
    is_metered,
    is_proration,
    is_subscription_line,
    line_net,
    line_taxes,
    moment,
    price_id_of,
    product_of,
    tax_lines,
)

_REASONS = {"subscription_create": BillingReason.SUBSCRIPTION_CREATE,
            "subscription_cycle": BillingReason.SUBSCRIPTION_CYCLE,
            "subscription_update": BillingReason.SUBSCRIPTION_UPDATE}


def credit_memo_id_of(invoice_id: str) -> str:
    """The credit memo a proration invoice's negative lines become (credit-and-rebill)."""
    return f"{invoice_id}-credit"


def subscription_of_invoice(ctx: Context, inv: Node) -> Route:
    """Route of an invoice from its own fields, else from what the gateway learnt."""
    inv_id = inv.req("id")
    sub_id = (inv.dig("parent", "subscription_details", "subscription")
              or inv.ref("subscription") or inv.dig("metadata", "subscription_id"))
    if isinstance(sub_id, dict):
        sub_id = sub_id.get("id")
    if sub_id:
        return Route(inv_id, str(sub_id), inv.ref("customer"), inv_id)
    known = ctx.route(inv_id)
    if known is None:
        raise ctx.unroutable(f"{inv.path}.parent.subscription_details.subscription", inv_id)
    return known


def learn_invoice(ctx: Context, inv: Node, route: Route) -> None:
    ctx.learn(route.invoice_id, route.subscription_id, route.customer_id, route.invoice_id)
    for field in ("payment_intent", "charge"):
        ctx.learn(inv.ref(field), route.subscription_id, route.customer_id, route.invoice_id)


def _lines(ctx: Context, inv: Node, currency: str) -> tuple[list[InvoiceLine],
                                                             list[CreditMemoLine], list[TaxLine]]:
    """(positive invoice lines, credit lines from negative ones, tax lines of positives)."""
    debit, credit, taxes = [], [], []
    for line in inv.items("lines"):
        line_id = line.req("id")
        line_tax = line_taxes(line, currency)
        net = line_net(line, currency)
        period = line.opt_child("period")
        start = day(period.req("start", int)) if period else None
        end = day(period.req("end", int)) if period else None
        if net.amount < 0:
            tax = total((t[3] for t in line_tax), currency)
            credit.append(CreditMemoLine(
                line_id=line_id, description=line.opt("description") or "proration credit",
                amount=-net, tax_amount=-tax,
                period_start=start if start and end and end > start else None,
                period_end=end if start and end and end > start else None))
            continue
        proration = is_proration(line)
        kind = (LineKind.PRORATION if proration else LineKind.RECURRING
                if is_subscription_line(line) and not is_metered(line) else LineKind.USAGE)
        timed = kind != LineKind.USAGE and start is not None and end is not None and end > start
        if not timed:
            kind = LineKind.USAGE  # no service period: recognised at once
        quantity = line.opt("quantity", int)
        debit.append(InvoiceLine(
            line_id=line_id, kind=kind, description=line.opt("description") or line_id,
            sku=product_of(line), plan_code=price_id_of(line),
            quantity=Decimal(quantity if quantity is not None else 1), amount=net,
            period_start=start if timed else None, period_end=end if timed else None))
        taxes.extend(tax_lines(line_id, line_tax))
    return debit, credit, taxes


def issue(ctx: Context, inv: Node, route: Route, account: CustomerAccount) -> None:
    """Emit the invoice (positive lines) and the credit memo of its negative lines."""
    inv_id = inv.req("id")
    currency = currency_of(inv)
    debit, credit, taxes = _lines(ctx, inv, currency)
    finalized = (inv.dig("status_transitions", "finalized_at") or inv.opt("effective_at", int)
                 or inv.req("created", int))
    issued = day(finalized)
    due = inv.opt("due_date", int)
    learn_invoice(ctx, inv, route)
    sub_id = route.subscription_id
    if debit:
        tax = TaxResult(provider="stripe", calculation_id=inv_id, lines=taxes,
                        total=total((t.amount for t in taxes), currency),
                        calculated_at=moment(finalized))
        invoice = Invoice(
            invoice_id=inv_id, customer_id=account.customer_id, subscription_id=sub_id,
            legal_entity=account.legal_entity, currency=currency, issued_on=issued,
            due_on=max(day(due), issued) if due else issued, lines=debit,
            billing_reason=_REASONS.get(inv.opt("billing_reason") or "", BillingReason.MANUAL),
            tax=tax)
        ctx.emit(InvoiceIssuedEvent, f"stripe:invoice:{inv_id}:issued", moment(finalized), 2,
                 sub_id, InvoiceIssued(invoice=invoice))
    if credit:
        credited = inv_id if debit else None  # the credit nets on this invoice, as in Stripe
        memo = CreditMemo(
            credit_memo_id=credit_memo_id_of(inv_id), customer_id=account.customer_id,
            subscription_id=sub_id, invoice_id=credited, legal_entity=account.legal_entity,
            currency=currency, issued_on=issued, reason="proration credit (unused time)",
            lines=credit)
        ctx.emit(CreditMemoIssuedEvent, f"stripe:invoice:{inv_id}:credit", moment(finalized), 3,
                 sub_id, CreditMemoIssued(credit_memo=memo))


def issue_if_finalized(ctx: Context, inv: Node, route: Route,
                       account: CustomerAccount) -> None:
    """The invoice's own issue events, when its object shows it was finalized."""
    if inv.dig("status_transitions", "finalized_at") and inv.items("lines"):
        issue(ctx, inv, route, account)
    else:
        learn_invoice(ctx, inv, route)


def invoice_finalized(ctx: Context) -> None:
    inv = ctx.obj
    route = subscription_of_invoice(ctx, inv)
    account = ctx.customer(inv.ref("customer") or route.customer_id, f"{inv.path}.customer")
    issue(ctx, inv, route, account)
