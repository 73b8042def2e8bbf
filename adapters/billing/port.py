"""The billing-system port: what Cashloop tells the system that bills the subscription.

Events flow in from the billing system (docs/events.md, docs/gateway.md); this is the
way back, for what Cashloop decides itself: a dunning ladder that ends in the write-off
and cancellation must stop the billing system from invoicing and collecting further.
"""

from __future__ import annotations

from typing import Protocol

from canonical.base import Canonical


class UpstreamClose(Canonical):
    """The billing system's state of a written-off invoice and its subscription after
    the close; `changed` is False when both were already so (a repeat, or done there)."""

    invoice_id: str
    subscription_id: str
    invoice_status: str  # as the billing system names it: uncollectible, paid, void, ...
    subscription_status: str  # canceled, ...
    changed: bool


class BillingPort(Protocol):
    async def close_unpaid(self, invoice_id: str, subscription_id: str, *, reason: str,
                           correlation_id: str) -> UpstreamClose:
        """Mark the invoice uncollectible (if it is still open) and cancel the subscription
        without proration or a final invoice; idempotent."""
        ...
