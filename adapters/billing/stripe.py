"""The billing port over Stripe Billing: a written-off invoice's close.

When a dunning ladder ends, Cashloop has cancelled the subscription in its books and
written the invoice off. Stripe must follow, or it keeps invoicing and retrying the
card: the open invoice is marked uncollectible (`POST /v1/invoices/{id}/mark_uncollectible`,
Stripe's own write-off) and the subscription cancelled now (`DELETE
/v1/subscriptions/{id}`) without proration or a final invoice — Cashloop's cancellation
already credited the unused service in the books. Both are read first, so a repeat, or a
close someone did in Stripe's dashboard, changes nothing; each write carries an
idempotency key. An invoice the customer paid meanwhile is left paid (its payment reaches
the books through the webhook and reverses the write-off); the subscription is cancelled
all the same, as it is in the books.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.http import call
from canonical.errors import InvalidDataError

from .port import UpstreamClose

SYSTEM = "billing"
# Starts the cancellation comment of every subscription this connector cancels, so the
# gateway knows Stripe's `customer.subscription.deleted` that follows for Cashloop's own.
COMMENT_PREFIX = "cashloop-close: "
# Subscription states Stripe has ended for good.
ENDED = frozenset({"canceled", "incomplete_expired"})


class StripeBillingAdapter:
    """`BillingPort` for Stripe Billing.

    Args:
        client: from `adapters.payments.stripe.stripe_client` (secret key, pinned version).
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def close_unpaid(self, invoice_id: str, subscription_id: str, *, reason: str,
                           correlation_id: str) -> UpstreamClose:
        cid = correlation_id
        invoice = await self._get(f"/v1/invoices/{invoice_id}", cid)
        billed = _subscription_of(invoice)
        if billed is not None and billed != subscription_id:
            raise InvalidDataError(f"Stripe bills {invoice_id} to {billed}, not to "
                                   f"{subscription_id}: nothing closed", system=SYSTEM)
        changed = False
        if invoice.get("status") == "open":
            invoice = _json(await call(
                self._client, "POST", f"/v1/invoices/{invoice_id}/mark_uncollectible",
                system=SYSTEM, correlation_id=cid,
                headers={"Idempotency-Key": f"cashloop-uncollectible-{invoice_id}"}))
            changed = True
        subscription = await self._get(f"/v1/subscriptions/{subscription_id}", cid)
        if subscription.get("status") not in ENDED:
            subscription = _json(await call(
                self._client, "DELETE", f"/v1/subscriptions/{subscription_id}",
                system=SYSTEM, correlation_id=cid,
                params={"prorate": "false", "invoice_now": "false",
                        "cancellation_details[comment]": (COMMENT_PREFIX + reason)[:500]},
                headers={"Idempotency-Key": f"cashloop-cancel-{subscription_id}"}))
            changed = True
        return UpstreamClose(invoice_id=invoice_id, subscription_id=subscription_id,
                             invoice_status=str(invoice.get("status")),
                             subscription_status=str(subscription.get("status")),
                             changed=changed)

    async def _get(self, path: str, cid: str) -> dict[str, Any]:
        return _json(await call(self._client, "GET", path, system=SYSTEM, correlation_id=cid))


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    # the current API names it under parent; older pinned versions at the top
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    found = details.get("subscription") or invoice.get("subscription")
    return found if isinstance(found, str) else None


def _json(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body
