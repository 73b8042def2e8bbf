"""Revenue schedules: a line's net amount spread over monthly periods of its service period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import Field, model_validator

from .base import Canonical, EntityCode, Id
from .catalog import RecognitionMethod
from .money import CurrencyCode, Money, total


class RevenuePeriod(Canonical):
    period: str = Field(pattern=r"^\d{4}-\d{2}$")  # accounting period, YYYY-MM
    start: dt.date
    end: dt.date  # exclusive
    amount: Money
    # The amount in the legal entity's functional currency (foreign-currency schedules).
    functional_amount: Money | None = None


class RevenueSchedule(Canonical):
    """Ratable recognition of one invoice line; periods sum exactly to `total`."""

    schedule_id: Id
    legal_entity: EntityCode
    customer_id: Id
    subscription_id: Id | None = None
    invoice_id: Id
    line_id: Id
    method: RecognitionMethod
    service_start: dt.date
    service_end: dt.date  # exclusive
    total: Money
    periods: list[RevenuePeriod]
    # Foreign-currency schedules: the booking (invoice) rate and the functional total,
    # which is exactly what the invoice credited to deferred revenue for this line.
    functional_currency: CurrencyCode | None = None
    rate: Decimal | None = None
    functional_total: Money | None = None

    @model_validator(mode="after")
    def _ties(self) -> RevenueSchedule:
        if total((p.amount for p in self.periods), self.total.currency) != self.total:
            raise ValueError(f"schedule {self.schedule_id}: periods do not sum to the total")
        if self.functional_total is not None:
            functional = [p.functional_amount for p in self.periods]
            if any(f is None for f in functional) or total(
                    (f for f in functional if f is not None),
                    self.functional_total.currency) != self.functional_total:
                raise ValueError(f"schedule {self.schedule_id}: functional amounts of the "
                                 "periods do not sum to the functional total")
        return self
