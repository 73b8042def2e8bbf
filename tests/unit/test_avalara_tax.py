"""The Avalara AvaTax connector against an in-memory AvaTax (tests/unit/avatax_api_fake)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from adapters.tax.avalara import AvalaraTaxAdapter, avatax_client
from canonical.billing import Invoice, InvoiceLine, LineKind
from canonical.customer import Address
from canonical.errors import InvalidDataError, UnavailableError
from canonical.money import Money
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.unit.flows_harness import (
    World,
    annual,
    fresh_ts_env,
    parked_step,
    quiet,
    running,
    send,
    until,
)

SEATTLE = Address(line1="400 Broad St", city="Seattle", postal_code="98109", region="WA",
                  country="US")
FROM = Address(line1="100 Main St", city="Portland", postal_code="97204", region="OR",
               country="US")


def invoice(invoice_id: str = "in_tax_1") -> Invoice:
    def line(line_id: str, amount: str) -> InvoiceLine:
        return InvoiceLine(line_id=line_id, kind=LineKind.RECURRING, description=f"{line_id}",
                           plan_code="pro-annual", amount=Money.of(amount, "USD"),
                           period_start=dt.date(2026, 1, 1), period_end=dt.date(2027, 1, 1))
    return Invoice(invoice_id=invoice_id, customer_id="cus_tax", subscription_id="sub_tax",
                   legal_entity="US01", currency="USD", issued_on=dt.date(2026, 1, 1),
                   due_on=dt.date(2026, 1, 31),
                   lines=[line("li_1", "1200.00"), line("li_2", "99.99")])


@pytest.fixture
def avatax() -> FakeAvaTax:
    return FakeAvaTax()


@pytest.fixture
async def adapter(avatax: FakeAvaTax) -> AsyncIterator[AvalaraTaxAdapter]:
    async with avatax_client(ACCOUNT, LICENSE, transport=avatax.transport()) as client:
        yield AvalaraTaxAdapter(client, companies={"US01": "CASHLOOP-US"},
                                ship_from={"US01": FROM})


async def test_an_invoices_tax_is_a_saved_sales_invoice_line_by_line(
        avatax: FakeAvaTax, adapter: AvalaraTaxAdapter) -> None:
    result = await adapter.calculate(invoice(), SEATTLE, correlation_id="c1")
    assert result.provider == "avalara" and result.calculation_id == "80001"
    first, second = result.lines
    assert (first.line_id, str(first.taxable), str(first.amount)) == (
        "li_1", "1200.00 USD", "124.20 USD")  # 78.00 state + 0.00 county + 46.20 city
    assert first.rate == Decimal("0.1035")
    assert first.jurisdiction == "KING / SEATTLE / WASHINGTON"
    assert str(second.amount) == "10.35 USD"  # 6.50 + 3.85: each jurisdiction rounds
    assert str(result.total) == "134.55 USD"
    sent = json.loads(avatax.requests[0].content)["createTransactionModel"]
    assert (sent["code"], sent["type"], sent["commit"], sent["companyCode"]) == (
        "in_tax_1", "SalesInvoice", False, "CASHLOOP-US")  # not filed: see avalara.py
    assert sent["addresses"]["shipFrom"]["region"] == "OR"
    assert [(ln["number"], ln["amount"]) for ln in sent["lines"]] == [
        ("li_1", "1200.00"), ("li_2", "99.99")]
    assert avatax.requests[0].url.params["$include"] == "Details"


async def test_a_repeat_adjusts_the_same_transaction_to_the_same_tax(
        avatax: FakeAvaTax, adapter: AvalaraTaxAdapter) -> None:
    first = await adapter.calculate(invoice(), SEATTLE, correlation_id="c1")
    again = await adapter.calculate(invoice(), SEATTLE, correlation_id="c1")
    assert again.lines == first.lines and again.calculation_id == first.calculation_id
    assert list(avatax.transactions) == [("CASHLOOP-US", "in_tax_1")]
    assert avatax.transactions[("CASHLOOP-US", "in_tax_1")]["version"] == 2


async def test_no_tax_where_there_is_none(adapter: AvalaraTaxAdapter) -> None:
    result = await adapter.calculate(invoice(), FROM, correlation_id="c1")
    assert [(t.rate, str(t.amount), t.jurisdiction) for t in result.lines] == [
        (Decimal(0), "0.00 USD", "none")] * 2


async def test_an_address_avatax_cannot_place_is_refused_for_an_operator(
        adapter: AvalaraTaxAdapter) -> None:
    nowhere = SEATTLE.model_copy(update={"region": "ZZ"})
    with pytest.raises(InvalidDataError, match="InvalidAddress"):
        await adapter.calculate(invoice(), nowhere, correlation_id="c1")


async def test_a_wrong_license_key_is_refused_and_an_outage_retried(avatax: FakeAvaTax) -> None:
    async with avatax_client(ACCOUNT, "wrong", transport=avatax.transport()) as client:
        with pytest.raises(InvalidDataError, match="Authentication"):
            await AvalaraTaxAdapter(client).calculate(invoice(), SEATTLE, correlation_id="c")
    down = httpx.MockTransport(lambda _: httpx.Response(503, text="Service Unavailable"))
    async with avatax_client(ACCOUNT, LICENSE, transport=down) as client:
        with pytest.raises(UnavailableError):
            await AvalaraTaxAdapter(client).calculate(invoice(), SEATTLE, correlation_id="c")


async def test_an_answer_missing_a_line_is_not_taken(avatax: FakeAvaTax) -> None:
    def drop_line(request: httpx.Request) -> httpx.Response:
        answer = avatax.transport().handle_request(request)
        body = json.loads(answer.read())
        body["lines"] = body["lines"][:1]
        return httpx.Response(201, json=body)
    async with avatax_client(ACCOUNT, LICENSE,
                             transport=httpx.MockTransport(drop_line)) as client:
        with pytest.raises(UnavailableError, match="has no line li_2"):
            await AvalaraTaxAdapter(client).calculate(invoice(), SEATTLE, correlation_id="c")


async def test_the_worker_calculates_with_avatax_when_configured() -> None:
    settings = Settings(tax_connector="avalara", avatax_account_id=ACCOUNT,
                        avatax_ship_from={"US01": FROM})
    async with configured_ports(settings, Secrets(avatax_license_key=SecretStr(LICENSE))) as ports:
        assert isinstance(ports.tax, AvalaraTaxAdapter)
    with pytest.raises(ValueError, match="needs CASHLOOP_AVATAX_ACCOUNT_ID"):
        async with configured_ports(settings, Secrets(avatax_license_key=None)):
            pass


async def test_an_invoice_without_tax_posts_avataxs_tax(avatax: FakeAvaTax) -> None:
    """The entity on the time-skipping server asks AvaTax for the tax of an invoice the
    billing system sent without it, and posts it to Sales Tax Payable."""
    async with fresh_ts_env() as env, avatax_client(
            ACCOUNT, LICENSE, transport=avatax.transport()) as client:
        # the connector in the fake's place (World types its ports as the fakes)
        world = World(tax=AvalaraTaxAdapter(client))  # type: ignore[arg-type]
        life = annual("sub_avt")  # SF, CA
        async with running(env.client, "tq-avatax", world) as config:
            handle = await send(env.client, config, life.events)
            view = await until(handle, quiet(2))
    (inv,) = view.invoices
    assert str(inv.total) == "1306.50 USD"  # 72.00 state, 3.00 county, 31.50 district
    assert world.erp.balances()["2200"] == Decimal("-106.50")
    assert [k for k in avatax.transactions] == [("US01", "in_sub_avt")]


async def test_an_invoice_avatax_refuses_parks_visibly(avatax: FakeAvaTax) -> None:
    del avatax.jurisdictions["CA"]  # AvaTax cannot place the customer's address
    async with fresh_ts_env() as env, avatax_client(
            ACCOUNT, LICENSE, transport=avatax.transport()) as client:
        # the connector in the fake's place (World types its ports as the fakes)
        world = World(tax=AvalaraTaxAdapter(client))  # type: ignore[arg-type]
        life = annual("sub_avx")
        async with running(env.client, "tq-avatax", world) as config:
            handle = await send(env.client, config, life.events)
            await until(handle, lambda v: v.parked)
            step = await parked_step(handle)
    assert (step.reason, step.retry_state) == ("tax.invalid_data", "NON_RETRYABLE_FAILURE")
    assert "InvalidAddress" in step.message
    assert "inv:in_sub_avx" not in world.erp.documents  # nothing posted without its tax
