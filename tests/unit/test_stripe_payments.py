"""The Stripe payments connector against an in-memory Stripe API (tests/unit/stripe_api_fake)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr

from adapters.payments.port import CollectionRequest, CollectionStatus
from adapters.payments.sandbox import SandboxPaymentsAdapter
from adapters.payments.stripe import STRIPE_VERSION, StripePaymentsAdapter, stripe_client
from canonical.errors import InvalidDataError, NotFoundError, RateLimitedError
from canonical.money import Money
from devstack import stripe_events
from gateway.sources.customers import CustomerMap, parse_customers
from gateway.sources.stripe import StripeMapper
from ports import configured_ports
from settings import PROJECT_ROOT, Settings
from settings_secrets import Secrets
from tests.unit.flows_harness import (
    World,
    annual,
    fail_payment,
    fresh_ts_env,
    gross,
    quiet,
    running,
    send,
    until,
)
from tests.unit.stripe_api_fake import API_KEY, FakeStripe
from tests.unit.test_dunning_flow import DAY

INV = "in_1TestDunned0001"


@pytest.fixture
def stripe() -> FakeStripe:
    fake = FakeStripe()
    fake.invoice(INV, 132000)
    return fake


@pytest.fixture
async def adapter(stripe: FakeStripe) -> AsyncIterator[StripePaymentsAdapter]:
    async with stripe_client(API_KEY, transport=stripe.transport()) as client:
        yield StripePaymentsAdapter(client)


def attempt(n: int, amount: str = "1320.00", currency: str = "USD") -> CollectionRequest:
    return CollectionRequest(attempt_id=f"dun:{INV}:{n}", invoice_id=INV,
                             customer_id="cus_R2mGlobexAG01", subscription_id="sub_1",
                             legal_entity="US01", amount=Money.of(amount, currency),
                             attempted_on=dt.date(2026, 2, 8))


async def test_a_paid_attempt_reports_the_invoices_payment_intent(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    result = await adapter.collect(attempt(1), correlation_id="c1")
    assert result.status == CollectionStatus.SUCCEEDED and not result.duplicate
    assert result.payment is not None
    assert (result.payment.payment_id, str(result.payment.amount)) == (
        "pi_1TestDunned0001", "1320.00 USD")
    assert result.payment.received_on == dt.date(2026, 2, 8)
    pay = stripe.requests[-1]
    assert (pay.method, pay.url.path) == ("POST", f"/v1/invoices/{INV}/pay")
    assert dict(parse_qsl(pay.content.decode())) == {"off_session": "true",
                                                    "expand[]": "payments"}
    assert pay.headers["Idempotency-Key"] == f"cashloop-dun:{INV}:1"
    assert pay.headers["Stripe-Version"] == STRIPE_VERSION == stripe_events.API_VERSION
    assert pay.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_a_declined_card_is_a_failed_attempt_with_the_decline_code(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    stripe.declines[INV] = 1
    first = await adapter.collect(attempt(1), correlation_id="c1")
    assert (first.status, first.failure_code) == (CollectionStatus.FAILED, "insufficient_funds")
    assert first.failure_message == "Your card has insufficient funds."
    second = await adapter.collect(attempt(2), correlation_id="c1")
    assert second.status == CollectionStatus.SUCCEEDED
    assert stripe.invoices[INV]["attempt_count"] == 2


async def test_a_resent_attempt_is_answered_by_stripes_idempotency_not_charged_again(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    stripe.declines[INV] = 1
    first = await adapter.collect(attempt(1), correlation_id="c1")
    again = await adapter.collect(attempt(1), correlation_id="c1")  # an activity retry
    assert again == first  # the 402 replayed for the same key
    assert stripe.invoices[INV]["attempt_count"] == 1


async def test_an_invoice_paid_meanwhile_reports_that_payment_without_paying_again(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    pi = stripe.paid_by_customer(INV)
    result = await adapter.collect(attempt(3), correlation_id="c1")
    assert result.status == CollectionStatus.SUCCEEDED and result.duplicate
    assert result.payment is not None and result.payment.payment_id == pi
    assert [r.method for r in stripe.requests] == ["GET"]  # no pay call


async def test_an_invoice_paid_between_the_read_and_the_pay_reports_that_payment(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    stripe.paid_meanwhile.add(INV)
    result = await adapter.collect(attempt(1), correlation_id="c1")
    assert result.status == CollectionStatus.SUCCEEDED and result.duplicate
    assert result.payment is not None and result.payment.payment_id == "pi_1TestDunned0001"
    assert [r.method for r in stripe.requests] == ["GET", "POST", "GET"]


async def test_an_attempt_that_would_take_more_than_the_books_have_open_parks(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    """A credit Cashloop issued itself (say a cancellation's, requested through its API)
    is not in Stripe, whose invoice still asks for the whole amount: no charge."""
    with pytest.raises(InvalidDataError, match=r"1320\.00 USD remaining, the books 1000\.00"):
        await adapter.collect(attempt(1, amount="1000.00"), correlation_id="c1")
    assert [r.method for r in stripe.requests] == ["GET"]


async def test_a_void_invoice_fails_the_attempt(stripe: FakeStripe,
                                                adapter: StripePaymentsAdapter) -> None:
    stripe.invoices[INV]["status"] = "void"
    result = await adapter.collect(attempt(1), correlation_id="c1")
    assert (result.status, result.failure_code) == (CollectionStatus.FAILED, "invoice_void")


async def test_an_invoice_stripe_does_not_know_parks_rather_than_fails(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    request = attempt(1).model_copy(update={"invoice_id": "in_sub_a1"})  # billed by Cashloop
    with pytest.raises(NotFoundError, match="No such invoice"):
        await adapter.collect(request, correlation_id="c1")


async def test_a_collection_in_another_currency_than_the_invoice_is_refused(
        adapter: StripePaymentsAdapter) -> None:
    with pytest.raises(InvalidDataError, match="in USD, the collection in EUR"):
        await adapter.collect(attempt(1, currency="EUR"), correlation_id="c1")


async def test_a_wrong_key_and_a_rate_limit_are_errors_of_their_kind(
        stripe: FakeStripe) -> None:
    async with stripe_client("sk_test_wrong", transport=stripe.transport()) as client:
        with pytest.raises(InvalidDataError, match="Invalid API Key"):
            await StripePaymentsAdapter(client).collect(attempt(1), correlation_id="c1")
    limited = httpx.MockTransport(lambda _: httpx.Response(
        429, json={"error": {"type": "rate_limit_error"}}, headers={"Retry-After": "2"}))
    async with stripe_client(API_KEY, transport=limited) as client:
        with pytest.raises(RateLimitedError) as info:
            await StripePaymentsAdapter(client).collect(attempt(1), correlation_id="c1")
    assert info.value.retry_after_s == 2.0


async def test_the_webhook_of_the_collected_payment_names_the_same_payment(
        stripe: FakeStripe, adapter: StripePaymentsAdapter) -> None:
    """Stripe sends `invoice.paid` for the payment the ladder made: the gateway maps it to
    the payment id the connector reported, so the entity takes them as one payment."""
    result = await adapter.collect(attempt(1), correlation_id="c1")
    paid = stripe.invoices[INV]
    paid.update(customer="cus_R2mGlobexAG01", subscription=None,
                status_transitions={**paid["status_transitions"], "paid_at": stripe.now})
    paid["parent"] = {"type": "subscription_details", "quote_details": None,
                      "subscription_details": {"subscription": "sub_1TestGlobex00001",
                                               "metadata": {}}}
    mapper = StripeMapper(CustomerMap(customers=parse_customers(
        (PROJECT_ROOT / "config" / "stripe_customers.toml").read_text())))
    evt = stripe_events.event("evt_paid", "invoice.paid", stripe.now, paid)
    mapped = mapper.map(json.dumps(evt).encode(), _NoRoutes())
    (payment_event,) = [e for e in mapped.events if e.event_type == "payment.succeeded"]
    assert result.payment is not None
    assert payment_event.payload.payment.payment_id == result.payment.payment_id


async def test_the_worker_collects_through_stripe_when_configured() -> None:
    settings = Settings(payments_connector="stripe", stripe_api_base="http://stripe.invalid")
    async with configured_ports(settings, Secrets(stripe_api_key=SecretStr(API_KEY))) as ports:
        assert isinstance(ports.payments, StripePaymentsAdapter)
    with pytest.raises(ValueError, match="needs CASHLOOP_STRIPE_API_KEY"):
        async with configured_ports(settings, Secrets(stripe_api_key=None)):
            pass
    async with configured_ports(Settings(), Secrets()) as ports:
        assert isinstance(ports.payments, SandboxPaymentsAdapter)  # the default


class _NoRoutes:
    def route_of(self, object_id: str) -> None:
        return None


async def test_a_ladder_collects_through_stripe_and_its_webhook_is_the_same_payment(
        stripe: FakeStripe) -> None:
    """The dunning ladder on the time-skipping server with the Stripe connector: the first
    retry is declined, the second pays the Stripe invoice; Stripe's invoice.paid webhook of
    that payment, after the ladder's result, posts nothing more."""
    stripe.invoice("in_sub_stripe", 132000)
    stripe.declines["in_sub_stripe"] = 1
    async with fresh_ts_env() as env, stripe_client(
            API_KEY, transport=stripe.transport()) as client:
        # the connector in the fake's place (World types its ports as the fakes)
        world = World(payments=StripePaymentsAdapter(client))  # type: ignore[arg-type]
        life = annual("sub_stripe")
        fail_payment(life, "in_sub_stripe", gross("1200.00"), dt.date(2026, 2, 1))
        async with running(env.client, "tq-stripe", world) as config:
            handle = await send(env.client, config, life.events)
            view = await until(handle, lambda v: v.state == "Active" and not v.children
                               and v.events_applied == 3, env, DAY)
            pi = "pi_sub_stripe"
            life.pay(pi, "in_sub_stripe", gross("1200.00"), dt.date(2026, 2, 5))
            await send(env.client, config, life.events[-1:])  # Stripe's invoice.paid
            view = await until(handle, quiet(4))
    (invoice,) = view.invoices
    assert (invoice.paid, invoice.payments) == (gross("1200.00"), [pi])
    assert view.findings == []
    assert stripe.invoices["in_sub_stripe"]["attempt_count"] == 2
    assert world.erp.balances().get("1200", 0) == 0
