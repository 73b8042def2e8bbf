"""Stripe's scheduled cancellations (cancel_at_period_end, cancel_at) and their withdrawal."""

from __future__ import annotations

import datetime as dt

from devstack import stripe_events as se
from tests.unit.test_gateway_stripe_mapping import MID, T1, routes, run, subscription

__all__ = ["routes"]  # the learnt-routes fixture


def test_cancel_at_period_end_schedules_the_cancellation_at_the_period_end(routes) -> None:
    sub = subscription()
    sub.update(cancel_at_period_end=True)
    (event,) = run(se.event("evt_s1", "customer.subscription.updated", MID, sub,
                            previous={"cancel_at_period_end": False}), routes).events
    assert event.event_type == "subscription.cancelled"
    assert (event.payload.effective_on, event.payload.withdrawn) == (dt.date(2026, 3, 1), False)
    assert event.payload.reason == "cancel_at_period_end"
    assert event.event_id == f"stripe:subscription:{sub['id']}:cancel_at:{T1}"


def test_cancel_at_a_date_schedules_it_on_that_date(routes) -> None:
    sub = subscription()
    sub.update(cancel_at=MID + 86400)
    (event,) = run(se.event("evt_s2", "customer.subscription.updated", MID, sub,
                            previous={"cancel_at": None}), routes).events
    assert event.payload.effective_on == dt.date(2026, 2, 16)


def test_unsetting_cancel_at_period_end_withdraws_the_scheduled_cancellation(routes) -> None:
    (event,) = run(se.event("evt_s3", "customer.subscription.updated", MID, subscription(),
                            previous={"cancel_at_period_end": True, "cancel_at": T1}),
                   routes).events
    assert event.event_type == "subscription.cancelled" and event.payload.withdrawn
    assert event.payload.effective_on == dt.date(2026, 3, 1)
    assert event.event_id == f"stripe:subscription:{subscription()['id']}:cancel_withdrawn:evt_s3"


def test_a_later_cancellation_after_a_withdrawal_is_a_new_event(routes) -> None:
    sub = subscription()
    sub.update(cancel_at_period_end=True)
    first = run(se.event("evt_s4", "customer.subscription.updated", MID, sub,
                         previous={"cancel_at_period_end": False}), routes).events[0]
    sub["items"]["data"][0].update(current_period_start=T1, current_period_end=T1 + 28 * 86400)
    later = run(se.event("evt_s5", "customer.subscription.updated", T1 + 86400, sub,
                         previous={"cancel_at_period_end": False}), routes).events[0]
    assert first.event_id != later.event_id
