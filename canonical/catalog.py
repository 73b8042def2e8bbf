"""Products and plans: what is sold, at what price, over which billing period."""

from __future__ import annotations

from enum import StrEnum

from .base import Canonical, Id
from .money import Money


class BillingPeriod(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "year": 12}[self.value]


class RecognitionMethod(StrEnum):
    """How a plan's revenue is spread over its service period (per plan: config/plans.toml)."""

    EXACT_DAYS = "exact_days"
    EQUAL_MONTHS = "equal_months"


class Plan(Canonical):
    plan_code: Id
    sku: Id
    name: str
    price: Money
    billing_period: BillingPeriod
    tax_code: str = "SAAS"
