"""What the subscription entity shows: its `state` query and its amount search attributes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import search
from .flow import ChildProgress
from .subscription_state import InvoiceView, SubscriptionView

if TYPE_CHECKING:
    from .subscription import SubscriptionWorkflow


def earliest_wait(children: Iterable[ChildProgress]) -> dt.datetime | None:
    """When the first child flow that waits on a timer acts next."""
    waits = [c.waiting_until for c in children if c.waiting_until]
    return min(waits) if waits else None


def view_of(wf: SubscriptionWorkflow) -> SubscriptionView:
    snap = wf._snap
    due: dict[str, Any] = {}
    for inv in wf._invoices.values():
        due[inv.total.currency] = due.get(inv.total.currency, 0) + inv.open_amount.amount
    children = list(wf._children.values())
    # A child waiting on a timer (a renewal window, a dunning retry) is not work in hand.
    active = any(c.waiting_until is None and not c.parked for c in children)
    sub = snap.subscription
    return SubscriptionView(
        subscription_id=wf._id, state=wf._state,
        customer_id=snap.customer.customer_id if snap.customer else None,
        legal_entity=sub.legal_entity if sub else None,
        last_sequence=wf._intake.last_sequence, events_applied=snap.events_applied,
        amount_due=due, invoices=list(wf._invoices.values()),
        pending=wf._intake.pending(wf._waiting_for), findings=list(snap.findings),
        references=dict(snap.references),
        parked=wf._parked is not None or any(c.parked for c in children),
        busy=wf._busy or active or bool(snap.outcomes or snap.requests),
        children=children, next_action_at=earliest_wait(children),
        term_start=sub.term_start if sub else None, term_end=sub.term_end if sub else None,
        renewals=snap.renewals)


def amounts(invoices: dict[str, InvoiceView]) -> list[Any]:
    """InvoiceIds and AmountDue (open amounts summed, whatever their currency)."""
    due = sum((v.open_amount.amount for v in invoices.values()), start=0)
    return [search.INVOICE_IDS.value_set(list(invoices)[-search.LIST_KEEP:]),
            search.AMOUNT_DUE.value_set(float(due))]
