"""Revenue schedules: a line's net amount spread over monthly periods of its service period."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from .base import Canonical, EntityCode, Id
from .catalog import RecognitionMethod
from .money import Money, total


class RevenuePeriod(Canonical):
    period: str = Field(pattern=r"^\d{4}-\d{2}$")  # accounting period, YYYY-MM
    start: dt.date
    end: dt.date  # exclusive
    amount: Money


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

    @model_validator(mode="after")
    def _ties(self) -> RevenueSchedule:
        if total((p.amount for p in self.periods), self.total.currency) != self.total:
            raise ValueError(f"schedule {self.schedule_id}: periods do not sum to the total")
        return self
