"""Renewal of a subscription term: the next term, changed terms from CRM, the term invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from .base import Canonical
from .billing import BillingReason, Invoice, InvoiceLine, LineKind
from .catalog import Plan
from .errors import InvalidDataError
from .proration import PAYMENT_TERMS
from .schedules import _next_month
from .subscription import Subscription, SubscriptionItem


class RenewalTerms(Canonical):
    """What CRM says about the next term: opt-out, or the items to renew with."""

    opt_out: bool = False
    items: list[SubscriptionItem] | None = None  # None: renew the current items


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    first = day.replace(day=1)
    for _ in range(months):
        first = _next_month(first)
    last = (_next_month(first) - dt.timedelta(days=1)).day
    return first.replace(day=min(day.day, last))


def _term_months(sub: Subscription) -> int | None:
    start, end = sub.term_start, sub.term_end
    months = (end.year - start.year) * 12 + end.month - start.month
    return months if months > 0 and add_months(start, months) == end else None


def terms_from_changes(changes: dict[str, Any] | None, current: list[SubscriptionItem]
                       ) -> list[SubscriptionItem] | None:
    """The renewal items CRM's `renewal_plan_changes` ask for; None when unchanged.

    Understood keys: `items` (the whole new item list), `plan` (a new plan for every
    item), `quantity` (a new quantity for every item).

    Raises:
        InvalidDataError: an unknown key or a value that does not validate.
    """
    if not changes:
        return None
    unknown = sorted(set(changes) - {"items", "plan", "quantity"})
    if unknown:
        raise InvalidDataError(f"renewal plan changes: unknown key(s) {unknown}", system="crm")
    try:
        if "items" in changes:
            return [SubscriptionItem.model_validate(i) for i in changes["items"]]
        plan = Plan.model_validate(changes["plan"]) if "plan" in changes else None
        update: dict[str, Any] = {}
        if "quantity" in changes:
            update["quantity"] = int(changes["quantity"])
        return [i.model_copy(update={**update, **({"plan": plan} if plan else {})})
                for i in current]
    except (ValidationError, TypeError, ValueError) as exc:
        raise InvalidDataError(f"renewal plan changes do not validate: {exc}",
                               system="crm") from exc


def next_term(sub: Subscription, items: list[SubscriptionItem] | None = None) -> Subscription:
    """The subscription for the term after `sub`'s: same length, starting at its end."""
    months = _term_months(sub)
    start = sub.term_end
    end = (add_months(start, months) if months is not None
           else start + (sub.term_end - sub.term_start))
    new_items = items or sub.items
    if any(i.plan.price.currency != sub.currency for i in new_items):
        raise InvalidDataError("renewal items must be priced in the subscription's currency",
                               system="renewal")
    return sub.model_copy(update={"term_start": start, "term_end": end, "items": new_items})


def renewal_invoice_id(subscription_id: str, number: int) -> str:
    """Cashloop issues renewal invoices itself, so their ids are deterministic."""
    return f"{subscription_id}-r{number}"


def renewal_invoice(term: Subscription, invoice_id: str) -> Invoice:
    """The invoice at the start of a renewed term: each item's first billing period."""
    lines = []
    for n, item in enumerate(term.items, start=1):
        end = min(add_months(term.term_start, item.plan.billing_period.months), term.term_end)
        lines.append(InvoiceLine(
            line_id=f"{invoice_id}-{n}", kind=LineKind.RECURRING, description=item.plan.name,
            sku=item.plan.sku, plan_code=item.plan.plan_code, quantity=Decimal(item.quantity),
            amount=item.plan.price.times(item.quantity), period_start=term.term_start,
            period_end=end, tax_code=item.plan.tax_code))
    return Invoice(invoice_id=invoice_id, customer_id=term.customer_id,
                   subscription_id=term.subscription_id, legal_entity=term.legal_entity,
                   currency=term.currency, issued_on=term.term_start,
                   due_on=term.term_start + PAYMENT_TERMS, lines=lines,
                   billing_reason=BillingReason.RENEWAL)
