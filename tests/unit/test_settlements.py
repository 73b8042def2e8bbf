"""Partner settlement reports mapped to payments (gateway/sources/settlements.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from canonical.accounts import AccountRole
from canonical.events import PaymentSucceededEvent
from canonical.money import Money
from canonical.posting import payment_entry
from gateway.service import NoRoutes
from gateway.sources.base import Category, MappingError
from gateway.sources.settlements import SettlementMapper
from tests.unit.flows_harness import ENTITIES


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "settlement_id": "st_2026_11", "partner": "marketplace", "legal_entity": "US01",
        "currency": "USD", "settled_on": "2026-11-30", "net_amount": "2376.00",
        "lines": [
            {"invoice_id": "in_1", "subscription_id": "sub_1", "customer_id": "cus_1",
             "gross": "1320.00", "fee": "132.00"},
            {"invoice_id": "in_2", "subscription_id": "sub_2", "customer_id": "cus_2",
             "gross": "1320.00", "fee": "132.00"}]}
    body.update(changes)
    return body


def mapped(body: dict[str, Any]) -> list[PaymentSucceededEvent]:
    result = SettlementMapper(ENTITIES).map(json.dumps(body).encode(), NoRoutes())
    assert result.event_type == "partner.settlement"
    assert result.source_event_id == "marketplace:st_2026_11"
    return [e for e in result.events if isinstance(e, PaymentSucceededEvent)]


def refused(body: dict[str, Any] | bytes) -> MappingError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(MappingError) as caught:
        SettlementMapper(ENTITIES).map(raw, NoRoutes())
    return caught.value


def test_each_invoice_becomes_a_payment_of_its_gross_with_the_partners_fee() -> None:
    first, second = mapped(report())
    assert (first.subscription_id, second.subscription_id) == ("sub_1", "sub_2")
    payment = first.payload.payment
    assert (payment.payment_id, payment.invoice_id, payment.amount, payment.fee) == (
        "marketplace:st_2026_11:in_1", "in_1", Money.of("1320.00", "USD"),
        Money.of("132.00", "USD"))
    assert (payment.method, payment.gateway_reference) == ("partner:marketplace", "st_2026_11")
    assert first.event_id == "settlement:marketplace:st_2026_11:in_1"


def test_cash_clearing_holds_exactly_the_deposit() -> None:
    chart = ENTITIES["US01"].chart
    clearing = chart.code(AccountRole.CASH_CLEARING)
    net = Decimal(0)
    for event in mapped(report()):
        entry = payment_entry(event.payload.payment, chart)
        net += sum((ln.amount.amount if ln.side == "debit" else -ln.amount.amount)
                   for ln in entry.lines if ln.account == clearing)
    assert net == Decimal("2376.00")


def test_a_report_that_does_not_add_up_to_its_deposit_is_refused_whole() -> None:
    err = refused(report(net_amount="2400.00"))
    assert err.category == Category.SCHEMA_INVALID
    (item,) = err.errors
    assert (item["path"], item["type"], item["got"]) == ("net_amount", "settlement_unbalanced",
                                                         "2400.00")
    assert "add up to 2376.00 USD" in item["message"]


def test_every_problem_of_a_bad_report_is_named() -> None:
    lines = report()["lines"]
    lines[0]["fee"] = "1500.00"  # more than the gross
    lines[1]["invoice_id"] = "in_1"  # settled twice
    lines[1]["gross"] = "10.005"  # finer than a cent
    err = refused(report(lines=lines, legal_entity="XX99"))
    assert {(e["path"], e["type"]) for e in err.errors} >= {
        ("legal_entity", "unknown_entity"), ("lines.0.fee", "fee_out_of_range"),
        ("lines.1.invoice_id", "duplicate_invoice"), ("lines.1.gross", "amount_precision"),
        ("net_amount", "settlement_unbalanced")}


def test_a_malformed_report_says_which_field() -> None:
    body = report()
    del body["lines"][0]["customer_id"]
    body["surprise"] = 1
    err = refused(body)
    assert {(e["path"], e["type"]) for e in err.errors} == {
        ("lines.0.customer_id", "missing"), ("surprise", "extra_forbidden")}
    assert refused(b"{not json").category == Category.JSON_INVALID
    assert refused(report(lines=[])).errors[0]["path"] == "lines"


def test_ids_too_long_for_a_payment_id_are_refused_not_a_server_error() -> None:
    lines = report()["lines"]
    lines[0]["invoice_id"] = "in_" + "x" * 190
    err = refused(report(lines=lines))
    assert ("lines.0.invoice_id", "id_too_long") in {(e["path"], e["type"]) for e in err.errors}
