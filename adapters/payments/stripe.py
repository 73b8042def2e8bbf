"""The payments port over Stripe: a dunning retry pays the Stripe invoice it dunns.

Invoices that came from Stripe keep Stripe's ids in Cashloop (`in_...`), so a retry is
`POST /v1/invoices/{id}/pay`: off session, with the customer's default payment method,
the attempt id as Stripe's `Idempotency-Key`. The invoice is read first, so an attempt
re-sent after Stripe has forgotten its key (24 hours) finds the invoice paid and reports
that payment instead of paying twice. The payment reported is the invoice's
PaymentIntent — the id the gateway gives the `invoice.paid` webhook of the same payment
(gateway/sources/stripe_documents.py), so that webhook and the ladder's result are one
payment in the books, whichever arrives first.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.http import call
from canonical.errors import CashloopError, InvalidDataError, UnavailableError
from canonical.money import Money
from canonical.payment import Payment

from .port import CollectionRequest, CollectionResult, CollectionStatus

SYSTEM = "payments"
STRIPE_API = "https://api.stripe.com"
# Pinned so the answer's shape does not follow the account's default version: from this
# version on an Invoice lists its payments (`payments`, expandable) and has no
# `payment_intent` field (the older field is still read, for older pins).
STRIPE_VERSION = "2025-03-31.basil"
# Invoice states a payment can be attempted in (Stripe collects an uncollectible one too).
PAYABLE = frozenset({"open", "uncollectible"})


def stripe_client(api_key: str, *, base_url: str = STRIPE_API, version: str = STRIPE_VERSION,
                  timeout: httpx.Timeout | float = 30.0,
                  transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client for Stripe's API with the secret key and the pinned version."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                             headers={"Authorization": f"Bearer {api_key}",
                                      "Stripe-Version": version})


class StripePaymentsAdapter:
    """`PaymentsPort` for Stripe Billing's invoices.

    Args:
        client: from `stripe_client` (base URL, secret key, pinned version).
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        """One attempt; a decline is a FAILED result, an invoice Stripe does not know
        raises NotFoundError (the attempt parks: a wrong key must not dun everything)."""
        invoice = await self._invoice(request, correlation_id)
        status = invoice.get("status")
        if status == "paid":  # paid meanwhile, or by this attempt's earlier send
            return self._succeeded(request, invoice, duplicate=True)
        if status not in PAYABLE:
            return _failed(request, f"invoice_{status}",
                           f"Stripe invoice {request.invoice_id} is {status}: nothing to collect")
        remaining = Money.of_minor(int(invoice.get("amount_remaining") or 0),
                                   request.amount.currency)
        if remaining > request.amount:  # Stripe would take more than the books have open
            raise InvalidDataError(
                f"Stripe invoice {request.invoice_id} has {remaining} remaining, the books "
                f"{request.amount} open: a credit Cashloop issued is not in Stripe; credit it "
                "there, then release the attempt", system=SYSTEM)
        try:
            response = await call(
                self._client, "POST", f"/v1/invoices/{request.invoice_id}/pay", system=SYSTEM,
                correlation_id=correlation_id,
                data={"off_session": "true", "expand[]": "payments"},
                headers={"Idempotency-Key": f"cashloop-{request.attempt_id}"},
                answers=frozenset({402}))
        except InvalidDataError:  # e.g. "Invoice is already paid": the customer, just now
            invoice = await self._invoice(request, correlation_id)
            if invoice.get("status") == "paid":
                return self._succeeded(request, invoice, duplicate=True)
            raise
        body = _json(response)
        if response.status_code == 402:  # card_error: declined, or needs the customer
            error = body.get("error") or {}
            return _failed(request, error.get("decline_code") or error.get("code")
                           or "payment_failed", error.get("message") or "")
        if body.get("status") != "paid":  # e.g. a bank debit still processing
            return _failed(request, "payment_processing",
                           f"Stripe invoice {request.invoice_id} is {body.get('status')} after "
                           "the attempt; a later attempt finds it paid")
        return self._succeeded(request, body, duplicate=False)

    async def _invoice(self, request: CollectionRequest, correlation_id: str) -> dict[str, Any]:
        response = await call(self._client, "GET", f"/v1/invoices/{request.invoice_id}",
                              system=SYSTEM, correlation_id=correlation_id,
                              params={"expand[]": "payments"})
        invoice = _json(response)
        currency = str(invoice.get("currency", "")).upper()
        if currency != request.amount.currency:
            raise InvalidDataError(f"Stripe invoice {request.invoice_id} is in {currency}, the "
                                   f"collection in {request.amount.currency}", system=SYSTEM)
        return invoice

    def _succeeded(self, request: CollectionRequest, invoice: dict[str, Any], *,
                   duplicate: bool) -> CollectionResult:
        payment_id, minor = _paying(invoice)
        if minor <= 0:  # settled from the customer's credit balance: no cash to post
            raise InvalidDataError(f"Stripe invoice {request.invoice_id} is paid without a "
                                   "payment; settle it in the books by hand", system=SYSTEM)
        payment = Payment(payment_id=payment_id, invoice_id=request.invoice_id,
                          customer_id=request.customer_id, legal_entity=request.legal_entity,
                          amount=Money.of_minor(minor, request.amount.currency),
                          received_on=request.attempted_on, method="card",
                          gateway_reference=payment_id)
        return CollectionResult(attempt_id=request.attempt_id,
                                status=CollectionStatus.SUCCEEDED, payment=payment,
                                duplicate=duplicate)


def invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The PaymentIntent an invoice names: its `payment_intent` (versions before
    2025-03-31.basil), else the first of its expanded payments that has one. The gateway
    names the payment of an `invoice.paid` webhook by it too
    (gateway/sources/stripe_documents.py), so a collection and its webhook are one id."""
    direct = invoice.get("payment_intent")
    if isinstance(direct, dict):
        direct = direct.get("id")
    if direct:
        return str(direct)
    payments = invoice.get("payments")  # a Stripe list, or a plain array
    for payment in (payments.get("data") if isinstance(payments, dict) else payments) or []:
        ref = payment.get("payment") if isinstance(payment, dict) else None
        pi = ref.get("payment_intent") if isinstance(ref, dict) else None
        if pi:
            return str(pi.get("id")) if isinstance(pi, dict) else str(pi)
    return None


def _paying(invoice: dict[str, Any]) -> tuple[str, int]:
    """(payment id, minor units) of what paid the invoice, as the gateway maps its
    `invoice.paid`: the PaymentIntent (else `{invoice}-paid`) for the invoice's amount paid."""
    return (invoice_payment_intent(invoice) or f"{invoice['id']}-paid",
            int(invoice.get("amount_paid") or 0))


def _failed(request: CollectionRequest, code: str, message: str) -> CollectionResult:
    return CollectionResult(attempt_id=request.attempt_id, status=CollectionStatus.FAILED,
                            failure_code=code, failure_message=message)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UnavailableError(f"{response.request.method} {response.request.url.path}: "
                               "not a JSON object", system=SYSTEM)
    return body


async def check_stripe(client: httpx.AsyncClient) -> list[str]:
    """What is wrong with the Stripe connectors' key (an empty list: nothing): one read of
    invoices, which both connectors need (`starter.py connectors check`)."""
    try:
        await call(client, "GET", "/v1/invoices", system=SYSTEM, correlation_id="check",
                   params={"limit": 1})
    except CashloopError as exc:
        return [f"Stripe: {exc.message}"]
    return []
