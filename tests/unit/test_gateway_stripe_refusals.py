"""Stripe webhook events that cannot be mapped: each refused with its category and field path."""

from __future__ import annotations

from devstack import stripe_events as se
from gateway.sources.base import Category
from tests.unit.test_gateway_stripe_mapping import (
    CUS,
    MID,
    SUB,
    T0,
    first_invoice,
    refusal,
    routes,
)

__all__ = ["routes"]  # the learnt-routes fixture


def test_unknown_event_type_is_refused_with_the_supported_types(routes) -> None:
    err = refusal(se.event("evt_x", "customer.created", T0, {"id": CUS}), routes)
    assert err.category == Category.UNKNOWN_EVENT_TYPE
    assert err.errors[0]["path"] == "type" and err.errors[0]["got"] == "customer.created"


def test_stripe_fixture_object_as_published_is_unmappable_customer(routes) -> None:
    invoice = se.base("invoice")  # Stripe's own example invoice, untouched
    invoice["parent"]["subscription_details"]["subscription"] = SUB
    err = refusal(se.event("evt_y", "invoice.finalized", T0, invoice), routes)
    assert err.category == Category.UNMAPPABLE_CUSTOMER
    assert err.errors[0]["path"] == "data.object.customer"
    assert err.errors[0]["got"] == "cus_QXg1o8vcGmoR32"


def test_credit_note_for_an_unseen_invoice_is_unroutable(routes) -> None:
    cn = se.credit_note("cn_1", CUS, "in_never_seen", "eur", MID, [("cnli_1", 100, 0)])
    err = refusal(se.event("evt_z", "credit_note.created", MID, cn), routes)
    assert err.category == Category.UNROUTABLE
    assert err.errors[0]["path"] == "data.object.invoice"


def test_wrong_type_reports_path_expected_and_got(routes) -> None:
    inv = first_invoice()
    inv["lines"]["data"][0]["amount"] = "980.00"
    err = refusal(se.event("evt_w", "invoice.finalized", T0, inv), routes)
    assert err.category == Category.SCHEMA_INVALID
    assert err.errors[0] == {"path": "data.object.lines.data.0.amount", "type": "type_error",
                             "message": "expected integer", "expected": "integer",
                             "got": "980.00"}


def test_missing_field_reports_its_path(routes) -> None:
    evt = se.event("evt_v", "invoice.finalized", T0, first_invoice())
    del evt["data"]["object"]["currency"]
    err = refusal(evt, routes)
    assert (err.category, err.errors[0]["path"], err.errors[0]["type"]) == (
        Category.SCHEMA_INVALID, "data.object.currency", "missing")


def test_malformed_json_is_refused(routes) -> None:
    assert refusal(b'{"id": "evt_1", ', routes).category == Category.JSON_INVALID
