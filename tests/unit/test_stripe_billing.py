"""A dunning ladder's write-off told to Stripe Billing (adapters/billing/stripe.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.billing.stripe import StripeBillingAdapter
from adapters.payments.stripe import StripePaymentsAdapter, stripe_client
from canonical.errors import InvalidDataError, NotFoundError
from cli.send import flow_config
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.fakes import FakeBilling
from tests.unit.flows_harness import (
    World,
    annual,
    fail_payment,
    fresh_ts_env,
    gross,
    running,
    until,
)
from tests.unit.flows_harness import send as send_events
from tests.unit.stripe_api_fake import API_KEY, FakeStripe
from tests.unit.test_dunning_flow import DAY, dunning_waits
from workflows.dunning import DunningFlow

INV, SUB = "in_1TestWrittenOff01", "sub_1TestWrittenOff01"
CID = "corr-billing"


@pytest.fixture
def stripe() -> FakeStripe:
    fake = FakeStripe()
    fake.invoice(INV, 132000, subscription=SUB)
    fake.subscription(SUB)
    return fake


@pytest.fixture
async def billing(stripe: FakeStripe) -> AsyncIterator[StripeBillingAdapter]:
    async with stripe_client(API_KEY, transport=stripe.transport()) as client:
        yield StripeBillingAdapter(client)


def writes(stripe: FakeStripe) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in stripe.requests if r.method != "GET"]


async def test_the_invoice_goes_uncollectible_and_the_subscription_ends_without_proration(
        billing: StripeBillingAdapter, stripe: FakeStripe) -> None:
    closed = await billing.close_unpaid(INV, SUB, reason="dunning exhausted",
                                        correlation_id=CID)
    assert (closed.invoice_status, closed.subscription_status, closed.changed) == (
        "uncollectible", "canceled", True)
    assert stripe.cancel_params[SUB] == {
        "prorate": "false", "invoice_now": "false",
        "cancellation_details[comment]": "cashloop-close: dunning exhausted"}
    assert [r.headers.get("Idempotency-Key") for r in stripe.requests if r.method != "GET"
            ] == [f"cashloop-uncollectible-{INV}", f"cashloop-cancel-{SUB}"]
    before = writes(stripe)
    again = await billing.close_unpaid(INV, SUB, reason="dunning exhausted",
                                       correlation_id=CID)
    assert not again.changed and writes(stripe) == before  # a repeat writes nothing


async def test_an_invoice_paid_meanwhile_stays_paid_and_the_subscription_still_ends(
        billing: StripeBillingAdapter, stripe: FakeStripe) -> None:
    stripe.paid_by_customer(INV)
    closed = await billing.close_unpaid(INV, SUB, reason="x", correlation_id=CID)
    assert (closed.invoice_status, closed.subscription_status) == ("paid", "canceled")
    assert writes(stripe) == [f"DELETE /v1/subscriptions/{SUB}"]


async def test_an_invoice_of_another_subscription_or_unknown_to_stripe_closes_nothing(
        billing: StripeBillingAdapter, stripe: FakeStripe) -> None:
    with pytest.raises(InvalidDataError, match=f"bills {INV} to {SUB}, not to sub_other"):
        await billing.close_unpaid(INV, "sub_other", reason="x", correlation_id=CID)
    with pytest.raises(NotFoundError):
        await billing.close_unpaid("in_nope", SUB, reason="x", correlation_id=CID)
    assert writes(stripe) == []


async def test_the_worker_and_new_flows_close_upstream_when_configured() -> None:
    settings = Settings(billing_connector="stripe")
    assert flow_config(settings).close_written_off_upstream
    assert not flow_config(Settings()).close_written_off_upstream
    async with configured_ports(settings, Secrets(stripe_api_key=SecretStr(API_KEY))) as ports:
        assert isinstance(ports.billing, StripeBillingAdapter)
    async with configured_ports(Settings(), Secrets()) as ports:
        assert ports.billing is None


async def test_only_the_sources_the_billing_system_bills_are_closed_there() -> None:
    """Stripe bills what its webhooks bring ("stripe"); a subscription another source
    brings (here "billing") is written off in the books without telling Stripe."""
    settings = Settings(billing_connector="stripe", billing_connector_sources=["stripe"])
    assert flow_config(settings).close_upstream_sources == ["stripe"]
    billing = FakeBilling()
    world = World(billing=billing)
    notes = {}
    async with fresh_ts_env() as env:
        for sub_id, sources in (("sub_src_other", ["stripe"]),
                                ("sub_src_ours", ["stripe", "billing"])):
            life = annual(sub_id)  # its events' source is "billing"
            fail_payment(life, f"in_{sub_id}", gross("1200.00"), dt.date(2026, 2, 1))
            world.payments.fail_first[f"in_{sub_id}"] = 99
            async with running(env.client, f"tq-{sub_id}", world,
                               close_written_off_upstream=True,
                               close_upstream_sources=sources) as config:
                handle = await send_events(env.client, config, life.events)
                await until(handle, lambda v: v.state == "Cancelled" and not v.children, env,
                            DAY)
                result = await env.client.get_workflow_handle_for(
                    DunningFlow.run, f"dunning-in_{sub_id}").result()
            assert result.state == "WrittenOff"
            notes[sub_id] = [a.note for a in result.audit if a.note.startswith("billing")]
    assert set(billing.closed) == {("in_sub_src_ours", "sub_src_ours")}
    assert notes["sub_src_other"] == ["billing system not told: in_sub_src_other came from "
                                      "billing, which it does not bill (stripe)"]
    assert notes["sub_src_ours"] == ["billing system: invoice uncollectible, subscription "
                                     "canceled"]


async def test_a_ladder_that_writes_off_closes_the_invoice_and_subscription_in_stripe(
        stripe: FakeStripe) -> None:
    """Every retry declined through Stripe: the ladder cancels and writes off in the books,
    then Stripe's invoice is uncollectible and its subscription canceled."""
    sub_id, inv_id = "sub_wos", "in_sub_wos"
    stripe.invoice(inv_id, 132000, subscription=sub_id)
    stripe.subscription(sub_id)
    stripe.declines[inv_id] = 99
    async with fresh_ts_env() as env, stripe_client(
            API_KEY, transport=stripe.transport()) as client:
        # the connector in the fake's place (World types its ports as the fakes)
        world = World(payments=StripePaymentsAdapter(client),  # type: ignore[arg-type]
                      billing=StripeBillingAdapter(client))
        life = annual(sub_id)
        fail_payment(life, inv_id, gross("1200.00"), dt.date(2026, 2, 1))
        async with running(env.client, "tq-billing", world,
                           close_written_off_upstream=True) as config:
            handle = await send_events(env.client, config, life.events)
            await until(handle, dunning_waits)
            await until(handle, lambda v: v.state == "Cancelled", env, DAY)
            dunning = env.client.get_workflow_handle_for(DunningFlow.run, f"dunning-{inv_id}")
            result = await dunning.result()
    assert result.state == "WrittenOff" and result.attempts == 3
    assert stripe.invoices[inv_id]["status"] == "uncollectible"
    assert stripe.subscriptions[sub_id]["status"] == "canceled"
    assert any("billing system: invoice uncollectible, subscription canceled" in (a.note or "")
               for a in result.audit)
