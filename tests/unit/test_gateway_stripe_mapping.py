"""Stripe webhook events (Stripe's own object shapes) mapped to canonical events."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from canonical.billing import LineKind
from canonical.money import Money
from devstack import stripe_events as se
from gateway.sources.base import Mapped, MappingError, Route
from gateway.sources.customers import CustomerMap, parse_customers
from gateway.sources.stripe import HANDLERS, StripeMapper
from settings import PROJECT_ROOT

CUS, SUB = "cus_R2mGlobexAG01", "sub_1TestGlobex00001"
T0 = se.unix(dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC))
T1 = se.unix(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
MID = se.unix(dt.datetime(2026, 2, 15, 12, 0, tzinfo=dt.UTC))
VAT = "txr_1TestVatDE19"


class LearntRoutes:
    """What the gateway's routes table would hold after the events mapped so far."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def route_of(self, object_id: str) -> Route | None:
        return self.routes.get(object_id)


@pytest.fixture
def routes() -> LearntRoutes:
    return LearntRoutes()


MAPPER = StripeMapper(CustomerMap(customers=parse_customers(
    (PROJECT_ROOT / "config" / "stripe_customers.toml").read_text())))


def run(evt: dict[str, Any], routes: LearntRoutes) -> Mapped:
    mapped = MAPPER.map(json.dumps(evt).encode(), routes)
    for route in mapped.routes:
        routes.routes[route.object_id] = route
    return mapped


def refusal(evt: dict[str, Any] | bytes, routes: LearntRoutes) -> MappingError:
    body = evt if isinstance(evt, bytes) else json.dumps(evt).encode()
    with pytest.raises(MappingError) as info:
        MAPPER.map(body, routes)
    return info.value


TEAM = se.price("price_1TestTeamMonth", "prod_TestTeam", 49000, "eur", nickname="Team Monthly")
BUSINESS = se.price("price_1TestBizMonth", "prod_TestBusiness", 99000, "eur")


def subscription(**kw: Any) -> dict[str, Any]:
    return se.subscription(SUB, CUS, [("si_TestTeam0001", kw.pop("price", TEAM),
                                       kw.pop("quantity", 2))], T0, T1, **kw)


def first_invoice(status: str = "open", **kw: Any) -> dict[str, Any]:
    line = se.invoice_line("il_1TestLine00001", "in_1TestInv000001", SUB, 98000, "eur", T0, T1,
                           price_id=TEAM["id"], product="prod_TestTeam", quantity=2,
                           tax=(18620, 98000, VAT))
    return se.invoice("in_1TestInv000001", CUS, SUB, "eur", [line], status=status,
                      billing_reason="subscription_create", finalized_at=T0 + 60, **kw)


def test_every_listed_stripe_event_type_has_a_mapping() -> None:
    assert set(HANDLERS) == {
        "customer.subscription.created", "customer.subscription.updated",
        "customer.subscription.deleted", "invoice.finalized", "invoice.paid",
        "invoice.payment_failed", "invoice.voided", "credit_note.created", "charge.refunded",
        "payment_intent.succeeded"}


def test_subscription_created_maps_to_activation_with_mapped_customer(routes) -> None:
    mapped = run(se.event("evt_1", "customer.subscription.created", T0, subscription()), routes)
    (event,) = mapped.events
    assert event.event_type == "subscription.activated"
    assert event.keys.subscription_id == SUB and event.sequence is None
    customer, sub = event.payload.customer, event.payload.subscription
    assert (customer.customer_id, customer.legal_entity) == ("cus_stripe_globex", "DE01")
    assert (sub.term_start, sub.term_end) == (dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    item = sub.items[0]
    assert item.quantity == 2
    assert (item.plan.plan_code, item.plan.sku, str(item.plan.price)) == (
        "price_1TestTeamMonth", "prod_TestTeam", "490.00 EUR")
    assert item.plan.billing_period == "month"


def test_invoice_finalized_keeps_lines_periods_and_stripe_tax(routes) -> None:
    (event,) = run(se.event("evt_2", "invoice.finalized", T0 + 60, first_invoice()),
                   routes).events
    inv = event.payload.invoice
    assert event.event_type == "invoice.issued"
    assert (inv.invoice_id, inv.subscription_id, inv.legal_entity) == (
        "in_1TestInv000001", SUB, "DE01")
    (line,) = inv.lines
    assert line.kind == LineKind.RECURRING
    assert (line.period_start, line.period_end) == (dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    assert str(line.amount) == "980.00 EUR"
    assert inv.tax is not None and inv.tax.provider == "stripe"
    assert str(inv.tax.total) == "186.20 EUR"
    assert inv.tax.lines[0].rate == Decimal("0.19")
    assert str(inv.total) == "1166.20 EUR"


def test_a_discounted_invoice_and_credit_note_book_what_the_customer_is_charged(
        routes) -> None:
    """Stripe's line `amount` is before discounts (listed per line in `discount_amounts`,
    the invoice's own allocated to its lines); the tax is on the discounted amount."""
    line = se.invoice_line("il_1TestDisc00001", "in_1TestDisc00001", SUB, 98000, "eur", T0, T1,
                           price_id=TEAM["id"], product="prod_TestTeam", quantity=2,
                           tax=(14896, 78400, VAT))
    line["discount_amounts"] = [{"amount": 19600, "discount": "di_1TestTwentyOff"}]
    inv = se.invoice("in_1TestDisc00001", CUS, SUB, "eur", [line], status="open",
                     billing_reason="subscription_create", finalized_at=T0 + 60)
    inv.update(total=78400 + 14896, amount_due=78400 + 14896, amount_remaining=78400 + 14896,
               total_discount_amounts=[{"amount": 19600, "discount": "di_1TestTwentyOff"}])
    (event,) = run(se.event("evt_d1", "invoice.finalized", T0 + 60, inv), routes).events
    invoice = event.payload.invoice
    assert (str(invoice.subtotal), str(invoice.total)) == ("784.00 EUR", "932.96 EUR")
    assert invoice.total.amount * 100 == inv["total"]  # AR ties to Stripe's total
    cn = se.credit_note("cn_1TestDisc0001", CUS, "in_1TestDisc00001", "eur", MID,
                        [("cnli_d1", 10000, 1520)])
    cn["lines"]["data"][0]["discount_amounts"] = [{"amount": 2000,
                                                   "discount": "di_1TestTwentyOff"}]
    (credit,) = run(se.event("evt_d2", "credit_note.created", MID, cn), routes).events
    memo = credit.payload.credit_memo
    assert (str(memo.subtotal), str(memo.tax_total)) == ("80.00 EUR", "15.20 EUR")


def test_invoice_paid_and_payment_intent_succeeded_become_one_canonical_payment(routes) -> None:
    run(se.event("evt_2", "invoice.finalized", T0 + 60, first_invoice()), routes)
    paid = first_invoice("paid", paid_at=T0 + 120, payment_intent="pi_3Test0001")
    issued, by_invoice = run(se.event("evt_3", "invoice.paid", T0 + 120, paid), routes).events
    assert issued.event_id == "stripe:invoice:in_1TestInv000001:issued"  # same as finalized's
    pi = se.payment_intent("pi_3Test0001", CUS, 116620, "eur", T0 + 60)  # current API: no link
    (by_intent,) = run(se.event("evt_4", "payment_intent.succeeded", T0 + 120, pi),
                       routes).events
    assert by_invoice.event_type == by_intent.event_type == "payment.succeeded"
    assert by_invoice.event_id == by_intent.event_id  # the entity drops the second
    payment = by_invoice.payload.payment
    assert (payment.payment_id, payment.invoice_id, str(payment.amount)) == (
        "pi_3Test0001", "in_1TestInv000001", "1166.20 EUR")


def test_invoice_paid_arriving_first_carries_the_invoice_it_pays(routes) -> None:
    paid = first_invoice("paid", paid_at=T0 + 120, payment_intent="pi_3Early")
    issued, payment = run(se.event("evt_p", "invoice.paid", T0 + 120, paid), routes).events
    (late,) = run(se.event("evt_f", "invoice.finalized", T0 + 60, first_invoice()),
                  routes).events
    assert issued.model_dump() == late.model_dump()  # one invoice, whichever comes first
    assert issued.occurred_at < payment.occurred_at
    assert payment.payload.payment.invoice_id == issued.payload.invoice.invoice_id


def test_draft_invoice_voided_before_finalizing_is_only_a_void(routes) -> None:
    draft = first_invoice("void", voided_at=MID)
    draft["status_transitions"]["finalized_at"] = None
    (event,) = run(se.event("evt_d", "invoice.voided", MID, draft), routes).events
    assert event.event_type == "invoice.voided"


def test_payment_intent_without_a_known_invoice_is_ignored(routes) -> None:
    pi = se.payment_intent("pi_3Unrelated", CUS, 500, "eur", T0)
    mapped = run(se.event("evt_5", "payment_intent.succeeded", T0, pi), routes)
    assert mapped.events == [] and mapped.ignored


def test_payment_failed_maps_with_attempt(routes) -> None:
    failed = first_invoice("open", payment_intent="pi_3Fail", attempt_count=2)
    issued, event = run(se.event("evt_6", "invoice.payment_failed", T0 + 3600, failed),
                        routes).events
    assert issued.event_type == "invoice.issued"
    failure = event.payload.failure
    assert event.event_type == "payment.failed"
    assert (failure.payment_id, failure.attempt, str(failure.amount)) == (
        "pi_3Fail", 2, "1166.20 EUR")


def test_invoice_voided_maps_with_void_date(routes) -> None:
    voided = first_invoice("void", voided_at=MID)
    issued, event = run(se.event("evt_7", "invoice.voided", MID, voided), routes).events
    assert (issued.event_type, event.event_type) == ("invoice.issued", "invoice.voided")
    assert event.payload.voided_on == dt.date(2026, 2, 15)
    assert event.keys.subscription_id == SUB


def test_credit_note_is_routed_through_its_invoice(routes) -> None:
    run(se.event("evt_2", "invoice.finalized", T0 + 60, first_invoice()), routes)
    cn = se.credit_note("cn_1Test0001", CUS, "in_1TestInv000001", "eur", MID,
                        [("cnli_1", 10000, 1900)])
    (event,) = run(se.event("evt_8", "credit_note.created", MID, cn), routes).events
    memo = event.payload.credit_memo
    assert event.event_type == "credit_memo.issued"
    assert (memo.credit_memo_id, memo.invoice_id, memo.subscription_id) == (
        "cn_1Test0001", "in_1TestInv000001", SUB)
    assert (str(memo.subtotal), str(memo.tax_total)) == ("100.00 EUR", "19.00 EUR")


def test_charge_refunded_maps_one_refund_event_per_refund(routes) -> None:
    run(se.event("evt_2", "invoice.finalized", T0 + 60, first_invoice()), routes)
    run(se.event("evt_3", "invoice.paid", T0 + 120,
                 first_invoice("paid", paid_at=T0 + 120, payment_intent="pi_3Test0001")), routes)
    charge = se.charge_refunded("ch_3Test0001", CUS, "pi_3Test0001", 116620, "eur",
                                [("re_1", 11900, MID), ("re_2", 500, MID + 60)])
    events = run(se.event("evt_9", "charge.refunded", MID + 60, charge), routes).events
    assert [e.event_type for e in events] == ["payment.refunded"] * 2
    refunds = [e.payload.refund for e in events]
    assert [(r.refund_id, str(r.amount)) for r in refunds] == [
        ("re_1", "119.00 EUR"), ("re_2", "5.00 EUR")]
    assert {(r.payment_id, r.invoice_id) for r in refunds} == {
        ("pi_3Test0001", "in_1TestInv000001")}


def test_subscription_deleted_maps_to_cancellation(routes) -> None:
    sub = subscription(status="canceled")
    sub.update(ended_at=MID, canceled_at=MID,
               cancellation_details={"reason": "cancellation_requested", "comment": None,
                                     "feedback": None})
    (event,) = run(se.event("evt_10", "customer.subscription.deleted", MID, sub), routes).events
    assert event.event_type == "subscription.cancelled"
    assert event.payload.effective_on == dt.date(2026, 2, 15)
    assert event.payload.reason == "cancellation_requested"


def test_a_deletion_cashloops_dunning_made_is_kept_but_ignored(routes) -> None:
    """The billing connector cancelled it after the books did (a ladder's close): its
    webhook must not become a second cancellation (an IllegalEvent finding)."""
    sub = subscription(status="canceled")
    sub.update(ended_at=MID, canceled_at=MID, cancellation_details={
        "reason": "cancellation_requested", "feedback": None,
        "comment": "cashloop-close: Cashloop: dunning exhausted, in_1 written off"})
    mapped = run(se.event("evt_10c", "customer.subscription.deleted", MID, sub), routes)
    assert mapped.events == [] and "Cashloop's dunning close" in (mapped.ignored or "")


def test_metadata_only_update_is_kept_but_ignored(routes) -> None:
    mapped = run(se.event("evt_11", "customer.subscription.updated", MID, subscription(),
                          previous={"metadata": {}}), routes)
    assert mapped.events == [] and "metadata" in (mapped.ignored or "")


def test_proration_update_maps_to_amendment_with_credit_and_rebill_keys(routes) -> None:
    upgraded = subscription(price=BUSINESS, quantity=2, latest_invoice="in_1TestProration1")
    previous = {"items": {"data": [{"price": TEAM}]}, "latest_invoice": "in_1TestInv000001"}
    (event,) = run(se.event("evt_12", "customer.subscription.updated", MID, upgraded,
                            previous=previous), routes).events
    amendment = event.payload.amendment
    assert event.event_type == "subscription.amended"
    assert (amendment.amendment_id, amendment.invoice_id, amendment.credit_memo_id) == (
        "am_evt_12", "in_1TestProration1", "in_1TestProration1-credit")
    assert event.keys.credit_memo_id == "in_1TestProration1-credit"
    assert amendment.new_items[0].plan.plan_code == "price_1TestBizMonth"
    # The proration invoice Stripe issues: a credit for unused Team time, a charge for the
    # rest of the period on Business. It maps to exactly those two keys.
    unused = se.invoice_line("il_1TestUnused", "in_1TestProration1", SUB, -45000, "eur", MID,
                             T1, price_id=TEAM["id"], quantity=2, proration=True,
                             tax=(-8550, -45000, VAT), description="Unused time on Team")
    rest = se.invoice_line("il_1TestRemaining", "in_1TestProration1", SUB, 91000, "eur", MID,
                           T1, price_id=BUSINESS["id"], quantity=2, proration=True,
                           tax=(17290, 91000, VAT), description="Remaining time on Business")
    proration = se.invoice("in_1TestProration1", CUS, SUB, "eur", [unused, rest], status="open",
                           billing_reason="subscription_update", finalized_at=MID)
    rebill, credit = run(se.event("evt_13", "invoice.finalized", MID, proration), routes).events
    assert (rebill.event_type, credit.event_type) == ("invoice.issued", "credit_memo.issued")
    inv, memo = rebill.payload.invoice, credit.payload.credit_memo
    assert inv.invoice_id == amendment.invoice_id
    assert memo.credit_memo_id == amendment.credit_memo_id
    assert [ln.kind for ln in inv.lines] == [LineKind.PRORATION]
    assert (inv.lines[0].period_start, inv.lines[0].period_end) == (
        dt.date(2026, 2, 15), dt.date(2026, 3, 1))
    assert (str(inv.subtotal), str(inv.tax_total)) == ("910.00 EUR", "172.90 EUR")
    assert (str(memo.subtotal), str(memo.tax_total)) == ("450.00 EUR", "85.50 EUR")
    assert memo.lines[0].period_start == dt.date(2026, 2, 15)
    # net, as Stripe bills it: 1082.90 - 535.50
    assert inv.total - memo.total == Money.of("547.40", "EUR")


def test_update_invoiced_later_derives_keys_from_the_update(routes) -> None:
    upgraded = subscription(price=BUSINESS)
    (event,) = run(se.event("evt_14", "customer.subscription.updated", MID, upgraded,
                            previous={"items": {"data": []}}), routes).events
    a = event.payload.amendment
    assert (a.invoice_id, a.credit_memo_id) == ("in_evt_14", "in_evt_14-credit")


def test_update_to_canceled_status_maps_to_the_same_cancellation_as_deleted(routes) -> None:
    sub = subscription(status="canceled")
    sub.update(ended_at=MID, canceled_at=MID)
    (updated,) = run(se.event("evt_15", "customer.subscription.updated", MID, sub,
                              previous={"status": "active"}), routes).events
    (deleted,) = run(se.event("evt_16", "customer.subscription.deleted", MID, sub),
                     routes).events
    assert updated.event_id == deleted.event_id


def test_older_api_shapes_map_alike(routes) -> None:
    """API versions before 2025-03: invoice.subscription, line price/proration/tax_amounts."""
    inv = first_invoice()
    inv.pop("parent")
    inv["subscription"] = SUB
    line = inv["lines"]["data"][0]
    for key in ("parent", "pricing", "taxes"):
        line.pop(key)
    rate = copy.deepcopy(se.base("tax_rate"))
    line.update(type="subscription", proration=False, price=TEAM,
                tax_amounts=[{"amount": 18620, "inclusive": False, "tax_rate": rate,
                              "taxable_amount": 98000}])
    (event,) = run(se.event("evt_17", "invoice.finalized", T0 + 60, inv), routes).events
    invoice = event.payload.invoice
    assert invoice.subscription_id == SUB
    assert invoice.lines[0].kind == LineKind.RECURRING
    assert invoice.lines[0].plan_code == "price_1TestTeamMonth"
    assert invoice.tax is not None and invoice.tax.lines[0].jurisdiction == "DE"
    assert str(invoice.tax.total) == "186.20 EUR"


def test_order_keys_follow_the_objects_own_times_then_lifecycle(routes) -> None:
    created = run(se.event("evt_a", "customer.subscription.created", T0, subscription()), routes)
    issued = run(se.event("evt_b", "invoice.finalized", T0 + 60, first_invoice()), routes)
    paid = run(se.event("evt_c", "invoice.paid", T0 + 120,
                        first_invoice("paid", paid_at=T0 + 120, payment_intent="pi_x")), routes)
    keys = [created.order_keys[0], issued.order_keys[0], paid.order_keys[0]]
    assert keys == sorted(keys)
