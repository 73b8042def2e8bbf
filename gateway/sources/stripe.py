"""The Stripe source: webhook events mapped to canonical events (rules in docs/gateway.md).

* customer.subscription.created -> subscription.activated
* customer.subscription.updated -> subscription.amended (items changed; credit + rebill
  keys, Stripe's proration invoice being the rebill when invoiced at once),
  subscription.cancelled (status became canceled; cancel_at_period_end / cancel_at set:
  scheduled on that date; unset again: withdrawn), else kept as ignored
* customer.subscription.deleted -> subscription.cancelled
* invoice.finalized -> invoice.issued (+ credit_memo.issued for negative proration lines)
* invoice.paid, payment_intent.succeeded -> payment.succeeded (one canonical id per payment)
* invoice.payment_failed -> payment.failed; invoice.voided -> invoice.voided
  (invoice.paid, .payment_failed and .voided of a finalized invoice also emit its
  invoice.issued, same id: the invoice never waits for a late invoice.finalized)
* credit_note.created -> credit_memo.issued; charge.refunded -> payment.refunded (per refund)

Canonical event ids are derived from the business object (`stripe:invoice:in_1:issued`),
not from the Stripe event id, so two Stripe events that describe the same fact (invoice.paid
and payment_intent.succeeded) become one canonical event and the entity drops the second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from adapters.billing.stripe import COMMENT_PREFIX
from canonical.events import (
    SubscriptionActivated,
    SubscriptionActivatedEvent,
    SubscriptionAmended,
    SubscriptionAmendedEvent,
    SubscriptionCancelled,
    SubscriptionCancelledEvent,
)
from canonical.subscription import (
    Amendment,
    ProrationBasis,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)

from . import stripe_documents as docs
from . import stripe_invoices as invoices
from .base import Category, Mapped, MappingError, Routes, problem
from .customers import CustomerMap
from .stripe_context import Context
from .stripe_fields import Node, currency_of, day, moment, plan_of

MAPPING_VERSION = "stripe-2"  # 2: upstream-billed amendments, scheduled cancellations

_STATUS = {"active": SubscriptionStatus.ACTIVE, "trialing": SubscriptionStatus.ACTIVE,
           "incomplete": SubscriptionStatus.ACTIVE, "past_due": SubscriptionStatus.PAST_DUE,
           "unpaid": SubscriptionStatus.SUSPENDED, "paused": SubscriptionStatus.SUSPENDED,
           "canceled": SubscriptionStatus.CANCELLED,
           "incomplete_expired": SubscriptionStatus.ENDED}


def _items(ctx: Context, sub: Node, currency: str) -> tuple[list[SubscriptionItem], Any, Any]:
    """Items, term start and term end (items carry periods in the current API)."""
    items, starts, ends = [], [], []
    for item in sub.items("items"):
        items.append(SubscriptionItem(item_id=item.req("id"),
                                      plan=plan_of(item.child("price"), currency),
                                      quantity=item.opt("quantity", int) or 1))
        starts.append(item.opt("current_period_start", int))
        ends.append(item.opt("current_period_end", int))
    if not items:
        raise MappingError(Category.SCHEMA_INVALID, "a subscription without items", [
            problem(f"{sub.path}.items.data", "too_short", "at least one item", 0)])
    start = sub.opt("current_period_start", int) or min(
        (s for s in starts if s is not None), default=None) or sub.req("start_date", int)
    end = sub.opt("current_period_end", int) or max((e for e in ends if e is not None),
                                                    default=None)
    if end is None:
        raise MappingError(Category.SCHEMA_INVALID, "no current period end", [problem(
            f"{sub.path}.items.data.0.current_period_end", "missing", "integer")])
    return items, start, end


def subscription_created(ctx: Context) -> None:
    sub = ctx.obj
    sub_id = sub.req("id")
    account = ctx.customer(sub.ref("customer"), f"{sub.path}.customer")
    currency = currency_of(sub)
    items, start, end = _items(ctx, sub, currency)
    subscription = Subscription(
        subscription_id=sub_id, customer_id=account.customer_id,
        legal_entity=account.legal_entity, currency=currency, items=items,
        term_start=day(start), term_end=day(end),
        status=_STATUS.get(sub.opt("status") or "active", SubscriptionStatus.ACTIVE),
        auto_renew=not sub.opt("cancel_at_period_end", bool) and sub.opt("cancel_at", int) is None)
    at = moment(sub.opt("start_date", int) or sub.req("created", int))
    ctx.emit(SubscriptionActivatedEvent, f"stripe:subscription:{sub_id}:activated", at, 0,
             sub_id, SubscriptionActivated(customer=account, subscription=subscription))


def _cancel(ctx: Context) -> None:
    sub = ctx.obj
    sub_id = sub.req("id")
    comment = sub.dig("cancellation_details", "comment")
    if isinstance(comment, str) and comment.startswith(COMMENT_PREFIX):
        # Cashloop's dunning cancelled it in the books first, then told Stripe
        ctx.ignore("cancelled in Stripe by Cashloop's dunning close: already in the books")
        return
    when = sub.opt("ended_at", int) or sub.opt("canceled_at", int) or ctx.created
    reason = sub.dig("cancellation_details", "reason") or "canceled in Stripe"
    ctx.emit(SubscriptionCancelledEvent, f"stripe:subscription:{sub_id}:cancelled",
             moment(when), 9, sub_id, SubscriptionCancelled(
                 subscription_id=sub_id, effective_on=day(when), reason=str(reason)))


def _schedule_cancel(ctx: Context) -> None:
    """cancel_at_period_end (or cancel_at) set: a cancellation on that date; unset: withdrawn.

    The scheduled cancellation's id names its date, so a later one (after a withdrawal)
    is a new event; Stripe's `deleted` at that date is noted by the entity as the same
    cancellation.
    """
    sub = ctx.obj
    sub_id = sub.req("id")
    on = sub.opt("cancel_at", int)
    if on is None and sub.opt("cancel_at_period_end", bool):
        on = _items(ctx, sub, currency_of(sub))[2]  # the current period's end
    if on is not None:
        ctx.emit(SubscriptionCancelledEvent, f"stripe:subscription:{sub_id}:cancel_at:{on}",
                 moment(ctx.created), 8, sub_id, SubscriptionCancelled(
                     subscription_id=sub_id, effective_on=day(on),
                     reason="cancel_at_period_end" if sub.opt("cancel_at_period_end", bool)
                     else "cancel_at"))
        return
    before = ctx.evt.child("data").opt("previous_attributes", dict) or {}
    was = before.get("cancel_at")
    ctx.emit(SubscriptionCancelledEvent,
             f"stripe:subscription:{sub_id}:cancel_withdrawn:{ctx.evt_id}",
             moment(ctx.created), 8, sub_id, SubscriptionCancelled(
                 subscription_id=sub_id, withdrawn=True, reason="reactivated in Stripe",
                 effective_on=day(was) if isinstance(was, int) else day(ctx.created)))


def subscription_updated(ctx: Context) -> None:
    sub = ctx.obj
    sub_id = sub.req("id")
    previous = ctx.evt.child("data").opt("previous_attributes", dict) or {}
    if sub.opt("status") == "canceled" and "status" in previous:
        _cancel(ctx)
        return
    scheduling = "cancel_at_period_end" in previous or "cancel_at" in previous
    if "items" not in previous:
        if scheduling:
            _schedule_cancel(ctx)
            return
        changed = ", ".join(sorted(previous)) or "nothing"
        ctx.ignore(f"subscription update without an accounting change (changed: {changed})")
        return
    ctx.customer(sub.ref("customer"), f"{sub.path}.customer")  # must be mapped
    items, _, _ = _items(ctx, sub, currency_of(sub))
    # Credit-and-rebill keys. Invoiced at once (proration_behavior=always_invoice), the
    # rebill is the new latest invoice and its negative proration lines become the credit
    # memo `<invoice>-credit` (see stripe_documents.invoice_finalized); otherwise both ids
    # derive from this update.
    latest = sub.ref("latest_invoice")
    invoiced_now = bool(latest and "latest_invoice" in previous)
    invoice_id = latest if invoiced_now and latest is not None else f"in_{ctx.evt_id}"
    # Invoiced at once, Stripe's proration invoice is the rebill and its negative lines
    # the credit memo: Cashloop posts those (what the customer was billed) and only ends
    # the old schedules itself.
    amendment = Amendment(
        amendment_id=f"am_{ctx.evt_id}", subscription_id=sub_id,
        effective_at=moment(ctx.created), new_items=items,
        credit_memo_id=invoices.credit_memo_id_of(invoice_id), invoice_id=invoice_id,
        proration_basis=ProrationBasis.EXACT_TIME, documents_upstream=invoiced_now)
    ctx.emit(SubscriptionAmendedEvent, f"stripe:subscription:{sub_id}:amended:{ctx.evt_id}",
             moment(ctx.created), 1, sub_id, SubscriptionAmended(amendment=amendment))
    if scheduling:
        _schedule_cancel(ctx)


HANDLERS: dict[str, Callable[[Context], None]] = {
    "customer.subscription.created": subscription_created,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": _cancel,
    "invoice.finalized": invoices.invoice_finalized,
    "invoice.paid": docs.invoice_paid,
    "invoice.payment_failed": docs.invoice_payment_failed,
    "invoice.voided": docs.invoice_voided,
    "credit_note.created": docs.credit_note_created,
    "charge.refunded": docs.charge_refunded,
    "payment_intent.succeeded": docs.payment_intent_succeeded,
}


class StripeMapper:
    """Maps one Stripe webhook body (already signature-checked) to canonical events."""

    channel = "stripe"
    mapping_version = MAPPING_VERSION
    untrusted_order = True

    def __init__(self, customers: CustomerMap) -> None:
        self._customers = customers

    def map(self, body: bytes, routes: Routes) -> Mapped:
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(Category.JSON_INVALID, "body is not valid JSON", [
                problem("", "json_invalid", "a Stripe event object", None, str(exc))]) from exc
        if not isinstance(raw, dict):
            raise MappingError(Category.SCHEMA_INVALID, "a Stripe event must be an object", [
                problem("", "object_type", "object", type(raw).__name__)])
        evt = Node(raw, "")
        evt_id, event_type = evt.req("id"), evt.req("type")
        handler = HANDLERS.get(event_type)
        if handler is None:
            raise MappingError(Category.UNKNOWN_EVENT_TYPE,
                               f"Stripe event type {event_type!r} is not mapped", [
                                   problem("type", "unknown_event_type",
                                           f"one of {sorted(HANDLERS)}", event_type)])
        ctx = Context(evt, evt_id, evt.req("created", int),
                      evt.child("data").child("object"), self._customers, routes)
        try:
            handler(ctx)
        except ValidationError as exc:
            raise MappingError(Category.SCHEMA_INVALID, "the mapped event would be invalid", [
                problem("canonical." + ".".join(str(p) for p in err["loc"]), err["type"],
                        err["msg"], _short(err.get("input")), err["msg"])
                for err in exc.errors(include_url=False)]) from exc
        return Mapped(source_event_id=evt_id, event_type=event_type, events=ctx.events,
                      order_keys=ctx.order_keys, routes=ctx.routes, ignored=ctx.ignored)


def _short(value: Any) -> Any:
    return f"<{type(value).__name__}>" if isinstance(value, dict | list) else value


