"""The state of mapping one Stripe event: the event, its object, and what it produced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from canonical.customer import CustomerAccount
from canonical.events import BusinessKeys, EnvelopeBase

from .base import Category, MappingError, Route, Routes, problem
from .customers import CustomerMap
from .stripe_fields import Node

SOURCE = "stripe"


def order_key(at: dt.datetime, rank: int) -> str:
    """Resequencing key: the object's own time, then the step of the lifecycle."""
    return f"{at.astimezone(dt.UTC):%Y%m%dT%H%M%S}|{rank}"


class Context:
    def __init__(self, evt: Node, evt_id: str, created: int, obj: Node,
                 customers: CustomerMap, routes: Routes) -> None:
        self.evt = evt
        self.evt_id = evt_id
        self.created = created
        self.obj = obj
        self._customers = customers
        self._routes = routes
        self.events: list[EnvelopeBase] = []
        self.order_keys: list[str] = []
        self.routes: list[Route] = []
        self.ignored: str | None = None

    def customer(self, stripe_id: str | None, path: str) -> CustomerAccount:
        """The mapped Cashloop customer of a Stripe customer id."""
        if stripe_id is None:
            raise MappingError(Category.SCHEMA_INVALID, f"{path} is missing",
                               [problem(path, "missing", "a Stripe customer id")])
        account = self._customers.get(stripe_id)
        if account is None:
            raise MappingError(Category.UNMAPPABLE_CUSTOMER,
                               f"Stripe customer {stripe_id} is not in the customer map", [
                                   problem(path, "unmapped_customer",
                                           "a customer listed in the customer map", stripe_id)])
        return account

    def route(self, *object_ids: str | None) -> Route | None:
        """The first known route among object ids (learnt earlier or in this event)."""
        for object_id in object_ids:
            if not object_id:
                continue
            for learnt in self.routes:
                if learnt.object_id == object_id:
                    return learnt
            found = self._routes.route_of(object_id)
            if found is not None:
                return found
        return None

    def unroutable(self, path: str, object_id: str | None) -> MappingError:
        return MappingError(
            Category.UNROUTABLE,
            f"no subscription known for {object_id or 'this object'} (its invoice has not "
            "been seen yet)",
            [problem(path, "unknown_subscription",
                     "an object whose invoice the gateway has seen", object_id)])

    def learn(self, object_id: str | None, subscription_id: str, customer: str | None,
              invoice_id: str | None) -> None:
        if object_id:
            self.routes.append(Route(object_id, subscription_id, customer, invoice_id))

    def emit(self, cls: Callable[..., EnvelopeBase], event_id: str, at: dt.datetime, rank: int,
             subscription_id: str, payload: Any) -> None:
        """Add one canonical event (unsequenced: Stripe gives no order; see the rule)."""
        self.events.append(cls(
            event_id=event_id, occurred_at=at, source=SOURCE, sequence=None,
            correlation_id=f"stripe-{subscription_id}",
            keys=BusinessKeys(subscription_id=subscription_id), payload=payload))
        self.order_keys.append(order_key(at, rank))

    def ignore(self, reason: str) -> None:
        self.ignored = reason
