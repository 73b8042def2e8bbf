"""An in-memory Stripe API for the Stripe payments connector's tests (an httpx transport).

Invoices are Stripe's own example object (devstack/stripe_objects.json, from Stripe's
published fixtures) with their amounts set. It answers the two calls the connector makes
the way Stripe's API reference says it does: `GET /v1/invoices/{id}` (payments included
when expanded) and `POST /v1/invoices/{id}/pay` (form parameters, 402 card errors,
idempotency keys replayed with `Idempotent-Replayed`, unknown parameters refused, an
already paid invoice refused). Retries confirm the invoice's one PaymentIntent again. For
the billing connector: `POST /v1/invoices/{id}/mark_uncollectible` (open invoices only),
`GET` and `DELETE /v1/subscriptions/{id}` (query parameters, a canceled one refused).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from devstack import stripe_events

CANCEL_PARAMS = {"cancellation_details[comment]", "cancellation_details[feedback]",
                 "expand[]", "invoice_now", "prorate"}
PAY_PARAMS = {"expand[]", "forgive", "mandate", "off_session", "paid_out_of_band",
              "payment_method", "source"}
API_KEY = "sk_test_cashloop"


@dataclass
class FakeStripe:
    """Stripe's invoices and their payments; `declines[invoice]` declines that many pays."""

    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    declines: dict[str, int] = field(default_factory=dict)
    # invoices the customer pays on Stripe's page just before the next pay request lands
    paid_meanwhile: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancel_params: dict[str, dict[str, str]] = field(default_factory=dict)
    _replies: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    now: int = 1_770_000_000

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def invoice(self, invoice_id: str, minor: int, currency: str = "usd",
                status: str = "open", subscription: str | None = None) -> dict[str, Any]:
        inv = stripe_events.base("invoice")
        inv.update(id=invoice_id, currency=currency, status=status, amount_due=minor,
                   amount_remaining=minor, amount_paid=0, total=minor, attempt_count=0)
        if subscription is not None:
            inv["parent"] = {"type": "subscription_details", "quote_details": None,
                             "subscription_details": {"metadata": {},
                                                      "subscription": subscription}}
        inv["payments"] = {"object": "list", "data": [], "has_more": False,
                           "url": f"/v1/invoice_payments?invoice={invoice_id}"}
        self.invoices[invoice_id] = inv
        return inv

    def paid_by_customer(self, invoice_id: str) -> str:
        """The customer paid the invoice through Stripe themselves (hosted page)."""
        return self._pay(self.invoices[invoice_id])

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        parts = request.url.path.strip("/").split("/")
        if parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
            return self._subscription_request(request, parts[2])
        if parts == ["v1", "invoices"] and request.method == "GET":
            limit = int(request.url.params.get("limit", 10))
            data = [_shown(inv, []) for inv in list(self.invoices.values())[:limit]]
            return httpx.Response(200, json={"object": "list", "data": data,
                                             "has_more": len(self.invoices) > limit,
                                             "url": "/v1/invoices"})
        if parts[:2] != ["v1", "invoices"] or len(parts) not in (3, 4):
            return _error(404, "invalid_request_error", "Unrecognized request URL")
        inv = self.invoices.get(parts[2])
        if inv is None:
            return _error(404, "invalid_request_error", f"No such invoice: '{parts[2]}'",
                          code="resource_missing")
        if request.method == "GET" and len(parts) == 3:
            expand = [v for k, v in request.url.params.multi_items() if k == "expand[]"]
            return httpx.Response(200, json=_shown(inv, expand))
        if request.method == "POST" and parts[3:] == ["pay"]:
            return self._pay_request(request, inv)
        if request.method == "POST" and parts[3:] == ["mark_uncollectible"]:
            if inv["status"] != "open":
                return _error(400, "invalid_request_error",
                              f"You can only mark an open invoice uncollectible; this invoice "
                              f"is {inv['status']}.")
            inv["status"] = "uncollectible"
            return httpx.Response(200, json=_shown(inv, []))
        return _error(404, "invalid_request_error", "Unrecognized request URL")

    def subscription(self, sub_id: str, status: str = "active") -> dict[str, Any]:
        sub = stripe_events.base("subscription")
        sub.update(id=sub_id, status=status, canceled_at=None,
                   cancellation_details={"comment": None, "feedback": None, "reason": None})
        self.subscriptions[sub_id] = sub
        return sub

    def _subscription_request(self, request: httpx.Request, sub_id: str) -> httpx.Response:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return _error(404, "invalid_request_error", f"No such subscription: '{sub_id}'",
                          code="resource_missing")
        if request.method == "GET":
            return httpx.Response(200, json=sub)
        if request.method != "DELETE":
            return _error(404, "invalid_request_error", "Unrecognized request URL")
        params = dict(request.url.params.multi_items())
        unknown = set(params) - CANCEL_PARAMS
        if unknown:
            return _error(400, "invalid_request_error",
                          f"Received unknown parameter: {sorted(unknown)[0]}")
        if sub["status"] == "canceled":
            return _error(400, "invalid_request_error",
                          "A canceled subscription can only update its cancellation_details "
                          "and metadata.")
        self.now += 60
        sub.update(status="canceled", canceled_at=self.now, ended_at=self.now,
                   cancellation_details={"comment": params.get(
                       "cancellation_details[comment]"), "feedback": None,
                       "reason": "cancellation_requested"})
        self.cancel_params[sub_id] = params
        return httpx.Response(200, json=sub)

    def _pay_request(self, request: httpx.Request, inv: dict[str, Any]) -> httpx.Response:
        form = parse_qsl(request.content.decode())
        unknown = {k for k, _ in form} - PAY_PARAMS
        if unknown:
            return _error(400, "invalid_request_error",
                          f"Received unknown parameter: {sorted(unknown)[0]}")
        key = request.headers.get("Idempotency-Key")
        body = request.content.decode()
        if key in self._replies:
            sent, status, reply = self._replies[key]
            if sent != body:
                return _error(400, "idempotency_error", "Keys for idempotent requests can "
                              "only be used with the same parameters they were first used with")
            return httpx.Response(status, json=reply, headers={"Idempotent-Replayed": "true"})
        if inv["id"] in self.paid_meanwhile:
            self.paid_meanwhile.discard(inv["id"])
            self._pay(inv)
        status, reply = self._attempt(inv, [v for k, v in form if k == "expand[]"])
        if key:
            self._replies[key] = (body, status, reply)
        return httpx.Response(status, json=reply)

    def _attempt(self, inv: dict[str, Any], expand: list[str]) -> tuple[int, dict[str, Any]]:
        if inv["status"] == "paid":
            return 400, _body("invalid_request_error", "Invoice is already paid")
        inv["attempt_count"] += 1
        self.now += 60
        if self.declines.get(inv["id"], 0) > 0:
            self.declines[inv["id"]] -= 1
            return 402, _body("card_error", "Your card has insufficient funds.",
                              code="card_declined", decline_code="insufficient_funds")
        self._pay(inv)
        return 200, _shown(inv, expand)

    def _pay(self, inv: dict[str, Any]) -> str:
        pi = f"pi_{inv['id'].removeprefix('in_')}"  # the invoice's one PaymentIntent
        inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0)
        inv["payments"]["data"].append({
            "id": f"inpay_{len(inv['payments']['data']) + 1}{inv['id']}",
            "object": "invoice_payment", "amount_paid": inv["amount_due"],
            "amount_requested": inv["amount_due"], "currency": inv["currency"],
            "invoice": inv["id"], "is_default": True, "livemode": False, "created": self.now,
            "payment": {"type": "payment_intent", "payment_intent": pi},
            "status": "paid", "status_transitions": {"paid_at": self.now, "canceled_at": None}})
        return pi


def _shown(inv: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    shown = copy.deepcopy(inv)
    if "payments" not in expand:  # includable: only when expanded
        shown.pop("payments", None)
    return shown


def _body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


def _error(status: int, kind: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json=_body(kind, message, **extra))
