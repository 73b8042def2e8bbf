"""Builders of Stripe webhook events on Stripe's own object shapes, for the demo, tests, bench.

The objects start from `stripe_objects.json`: the example objects Stripe publishes for
its API (stripe/openapi `openapi/fixtures3.json`, MIT licence, copied verbatim) — so
every field Stripe sends is there, generator junk included — and only the fields that
matter to a scenario are set. Amounts are integers in minor units, times unix seconds.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

OBJECTS_FILE = Path(__file__).with_name("stripe_objects.json")
API_VERSION = "2025-03-31.basil"


@cache
def _objects() -> dict[str, Any]:
    return dict(json.loads(OBJECTS_FILE.read_text()))


def base(name: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object `name` (invoice, subscription, ...)."""
    return copy.deepcopy(_objects()[name])


def unix(moment: dt.datetime | dt.date) -> int:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), dt.UTC)
    return int(moment.timestamp())


def event(evt_id: str, event_type: str, created: int, obj: dict[str, Any],
          previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A webhook event wrapping `obj` (the shape of Stripe's `event` object)."""
    evt = base("event")
    evt.update(id=evt_id, type=event_type, created=created, api_version=API_VERSION,
               livemode=False, pending_webhooks=1,
               request={"id": f"req_{evt_id[4:16]}", "idempotency_key": None})
    evt["data"] = {"object": obj}
    if previous is not None:
        evt["data"]["previous_attributes"] = previous
    return evt


def price(price_id: str, product: str, unit_amount: int, currency: str,
          interval: str = "month", interval_count: int = 1,
          nickname: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = base("subscription_item")["price"]
    p.update(id=price_id, product=product, unit_amount=unit_amount,
             unit_amount_decimal=str(unit_amount), currency=currency, nickname=nickname,
             lookup_key=None, transform_quantity=None)
    p["recurring"].update(interval=interval, interval_count=interval_count)
    return p


def subscription(sub_id: str, customer: str, items: list[tuple[str, dict[str, Any], int]],
                 start: int, period_end: int, *, status: str = "active",
                 latest_invoice: str | None = None) -> dict[str, Any]:
    """A subscription; `items` are (subscription item id, price, quantity)."""
    sub = base("subscription")
    data = []
    for item_id, item_price, quantity in items:
        item = base("subscription_item")
        item.update(id=item_id, price=item_price, quantity=quantity, subscription=sub_id,
                    created=start, current_period_start=start, current_period_end=period_end)
        item.pop("plan", None)  # the legacy `plan` mirror: junk in the fixture
        data.append(item)
    sub.update(id=sub_id, customer=customer, currency=items[0][1]["currency"], status=status,
               created=start, start_date=start, billing_cycle_anchor=start,
               cancel_at=None, canceled_at=None, ended_at=None, cancel_at_period_end=False,
               trial_start=None, trial_end=None, latest_invoice=latest_invoice,
               pending_update=None, metadata={})
    sub["items"].update(data=data, url=f"/v1/subscription_items?subscription={sub_id}")
    return sub


def invoice_line(line_id: str, invoice_id: str, sub_id: str | None, amount: int, currency: str,
                 start: int, end: int, *, price_id: str | None = None,
                 product: str | None = None, quantity: int = 1, proration: bool = False,
                 tax: tuple[int, int, str] | None = None,
                 description: str | None = None) -> dict[str, Any]:
    """An invoice line; `tax` is (tax amount, taxable amount, tax rate id)."""
    line = base("line_item")
    line.update(id=line_id, invoice=invoice_id, amount=amount, currency=currency,
                description=description, quantity=quantity, subtotal=amount,
                period={"start": start, "end": end}, discountable=not proration,
                taxes=[{"amount": tax[0], "taxable_amount": tax[1], "tax_behavior": "exclusive",
                        "taxability_reason": "standard_rated", "type": "tax_rate_details",
                        "tax_rate_details": {"tax_rate": tax[2]}}] if tax else [])
    line["pricing"] = {"type": "price_details", "unit_amount_decimal": str(amount // quantity),
                       "price_details": {"price": price_id, "product": product}}
    if sub_id:
        line["parent"] = {"type": "subscription_item_details", "invoice_item_details": None,
                          "subscription_item_details": {
                              "invoice_item": None, "proration": proration,
                              "proration_details": {"credited_items": None},
                              "subscription": sub_id, "subscription_item": f"si_{line_id[3:]}"}}
    else:
        line["parent"] = {"type": "invoice_item_details", "subscription_item_details": None,
                          "invoice_item_details": {"invoice_item": f"ii_{line_id[3:]}",
                                                   "proration": proration,
                                                   "proration_details": {"credited_items": None},
                                                   "subscription": None}}
    return line


def invoice(invoice_id: str, customer: str, sub_id: str | None, currency: str,
            lines: list[dict[str, Any]], *, status: str, billing_reason: str,
            finalized_at: int, paid_at: int | None = None, voided_at: int | None = None,
            payment_intent: str | None = None, attempt_count: int = 0) -> dict[str, Any]:
    inv = base("invoice")
    subtotal = sum(ln["amount"] for ln in lines)
    tax = sum(t["amount"] for ln in lines for t in ln["taxes"])
    total = subtotal + tax
    paid = total if status == "paid" else 0
    inv.update(id=invoice_id, customer=customer, currency=currency, status=status,
               billing_reason=billing_reason, created=finalized_at, effective_at=finalized_at,
               period_start=finalized_at, period_end=finalized_at, due_date=None,
               subtotal=subtotal, subtotal_excluding_tax=subtotal, total=total,
               total_excluding_tax=subtotal, amount_due=total, amount_paid=paid,
               amount_remaining=total - paid, amount_overpaid=0, attempt_count=attempt_count,
               attempted=attempt_count > 0, auto_advance=True, from_invoice=None,
               last_finalization_error=None, number=f"{invoice_id[-8:].upper()}-0001",
               total_taxes=[{"amount": t["amount"], "tax_behavior": "exclusive",
                             "taxable_amount": t["taxable_amount"], "type": "tax_rate_details",
                             "tax_rate_details": t["tax_rate_details"]}
                            for ln in lines for t in ln["taxes"]],
               status_transitions={"finalized_at": finalized_at, "paid_at": paid_at,
                                   "voided_at": voided_at, "marked_uncollectible_at": None})
    inv["lines"].update(data=lines, url=f"/v1/invoices/{invoice_id}/lines")
    inv["parent"] = ({"type": "subscription_details", "quote_details": None,
                      "subscription_details": {"metadata": {}, "subscription": sub_id}}
                     if sub_id else None)
    if payment_intent:  # pinned to an API version before 2025-03: payment_intent on invoice
        inv["payment_intent"] = payment_intent
    return inv


def payment_intent(pi_id: str, customer: str, amount: int, currency: str, created: int,
                   invoice_id: str | None = None) -> dict[str, Any]:
    pi = base("payment_intent")
    pi.update(id=pi_id, customer=customer, amount=amount, amount_received=amount,
              currency=currency, created=created, status="succeeded", canceled_at=None,
              last_payment_error=None, next_action=None, latest_charge=f"ch_{pi_id[3:]}",
              client_secret=f"{pi_id}_secret_x", description="Subscription creation")
    if invoice_id:
        pi["invoice"] = invoice_id
    return pi


def credit_note(cn_id: str, customer: str, invoice_id: str, currency: str, created: int,
                lines: list[tuple[str, int, int]], reason: str = "order_change") -> dict[str, Any]:
    """A credit note; `lines` are (line id, net amount, tax amount)."""
    cn = base("credit_note")
    data = []
    for line_id, amount, tax in lines:
        line = base("credit_note_line_item")
        line.update(id=line_id, amount=amount, description="Service credit", tax_rates=[],
                    pretax_credit_amounts=[],
                    taxes=[{"amount": tax, "taxable_amount": amount, "tax_behavior": "exclusive",
                            "type": "tax_rate_details",
                            "tax_rate_details": {"tax_rate": "txr_demo"}}] if tax else [])
        data.append(line)
    subtotal = sum(a for _, a, _ in lines)
    total = subtotal + sum(t for _, _, t in lines)
    cn.update(id=cn_id, customer=customer, invoice=invoice_id, currency=currency,
              created=created, effective_at=created, amount=total, subtotal=subtotal,
              subtotal_excluding_tax=subtotal, total=total, total_excluding_tax=subtotal,
              reason=reason, voided_at=None, refunds=[], status="issued")
    cn["lines"].update(data=data, url=f"/v1/credit_notes/{cn_id}/lines")
    return cn


def charge_refunded(ch_id: str, customer: str, pi_id: str, amount: int, currency: str,
                    refunds: list[tuple[str, int, int]]) -> dict[str, Any]:
    """A refunded charge; `refunds` are (refund id, amount, created)."""
    ch = base("charge")
    data = []
    for refund_id, refund_amount, created in refunds:
        re = base("refund")
        re.update(id=refund_id, amount=refund_amount, charge=ch_id, currency=currency,
                  created=created, payment_intent=pi_id, status="succeeded")
        data.append(re)
    refunded = sum(a for _, a, _ in refunds)
    ch.update(id=ch_id, customer=customer, payment_intent=pi_id, amount=amount,
              amount_captured=amount, amount_refunded=refunded, captured=True,
              currency=currency, refunded=refunded >= amount, source=None)
    ch["refunds"] = {"object": "list", "data": data, "has_more": False,
                     "url": f"/v1/charges/{ch_id}/refunds"}
    return ch
