"""Billing computations of amendments and renewals, run as local activities.

Pure functions of canonical/ (proration, renewal terms); run as local activities so
their results are recorded in history and a later rule change never breaks replay.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from canonical.billing import Invoice
from canonical.errors import InvalidDataError
from canonical.proration import AmendmentProration, ServiceLine, prorate_amendment
from canonical.renewal import next_term, renewal_invoice
from canonical.subscription import Amendment, Subscription, SubscriptionItem

from .errors import translated_errors


class _Io(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProrateAmendmentInput(_Io):
    amendment: Amendment
    subscription: Subscription
    lines: list[ServiceLine]


class RenewalTermInput(_Io):
    subscription: Subscription  # the term that ends
    items: list[SubscriptionItem] | None = None  # changed terms from CRM
    invoice_id: str


class RenewalTermResult(_Io):
    term: Subscription
    invoice: Invoice


class ProrationActivities:
    @activity.defn
    async def prorate_amendment(self, req: ProrateAmendmentInput) -> AmendmentProration:
        with translated_errors():
            return prorate_amendment(req.amendment, req.subscription, req.lines)

    @activity.defn
    async def renewal_term(self, req: RenewalTermInput) -> RenewalTermResult:
        with translated_errors():
            try:
                term = next_term(req.subscription, req.items)
                return RenewalTermResult(term=term, invoice=renewal_invoice(term, req.invoice_id))
            except ValueError as exc:  # a term or invoice that does not validate
                raise InvalidDataError(str(exc), system="renewal") from exc
