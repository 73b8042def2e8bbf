"""Subscriptions, their items and mid-term amendments."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from .base import Canonical, EntityCode, Id
from .catalog import Plan
from .money import CurrencyCode


class SubscriptionItem(Canonical):
    item_id: Id
    plan: Plan
    quantity: int = Field(ge=1)


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    ENDED = "ended"


class Subscription(Canonical):
    """A subscription for one term; `term_end` is exclusive (the next term's start)."""

    subscription_id: Id
    customer_id: Id
    legal_entity: EntityCode
    currency: CurrencyCode
    items: list[SubscriptionItem] = Field(min_length=1)
    term_start: dt.date
    term_end: dt.date
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    auto_renew: bool = True

    @model_validator(mode="after")
    def _check(self) -> Subscription:
        if self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start")
        for item in self.items:
            if item.plan.price.currency != self.currency:
                raise ValueError(
                    f"item {item.item_id} is priced in {item.plan.price.currency}, "
                    f"subscription in {self.currency}"
                )
        return self


class ProrationBasis(StrEnum):
    """Exact time (seconds) as the major billing platforms do, or whole days."""

    EXACT_TIME = "exact_time"
    DAYS = "days"


class Amendment(Canonical):
    """A mid-term change of plan or quantity, billed as credit-and-rebill."""

    amendment_id: Id
    subscription_id: Id
    effective_at: AwareDatetime
    new_items: list[SubscriptionItem] = Field(min_length=1)
    credit_memo_id: Id
    invoice_id: Id
    proration_basis: ProrationBasis = ProrationBasis.EXACT_TIME
    # The billing system issues the credit memo (`credit_memo_id`) and the rebill
    # (`invoice_id`) itself, as Stripe does when it invoices prorations at once: Cashloop
    # ends the old revenue schedules and posts those documents when they arrive, so the
    # books carry exactly what the customer was billed.
    documents_upstream: bool = False
