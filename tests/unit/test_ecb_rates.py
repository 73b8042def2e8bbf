"""The ECB reference-rate connector against an in-memory ECB Data Portal (ecb_api_fake)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.testing import ActivityEnvironment

from activities.io import InvoiceJournalInput
from activities.rules import RulesActivities
from adapters.rates.ecb import EcbRatesAdapter, ecb_client
from canonical.errors import NotFoundError
from canonical.money import Money
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.ecb_api_fake import FakeEcb
from tests.unit.flows_harness import ENTITIES
from tests.unit.test_posting_fx import eur_invoice

CID = "corr-ecb"
FRIDAY, SUNDAY = dt.date(2026, 1, 9), dt.date(2026, 1, 11)


@pytest.fixture
def ecb() -> FakeEcb:
    return FakeEcb()


@pytest.fixture
async def rates(ecb: FakeEcb) -> AsyncIterator[EcbRatesAdapter]:
    async with ecb_client(transport=ecb.transport()) as client:
        yield EcbRatesAdapter(client)


async def test_a_euro_rate_is_the_published_one(rates: EcbRatesAdapter) -> None:
    fx = await rates.rate("EUR", "USD", FRIDAY, correlation_id=CID)
    assert (fx.rate, fx.effective_from, fx.source) == (
        Decimal("1.1642"), FRIDAY, "ECB euro reference rate")


async def test_a_weekend_takes_the_last_business_days_rate(rates: EcbRatesAdapter) -> None:
    fx = await rates.rate("EUR", "JPY", SUNDAY, correlation_id=CID)
    assert (fx.rate, fx.effective_from) == (Decimal("183.51"), FRIDAY)


async def test_a_pair_without_the_euro_is_crossed_through_it(rates: EcbRatesAdapter) -> None:
    usd_eur = await rates.rate("USD", "EUR", FRIDAY, correlation_id=CID)
    assert usd_eur.rate == Decimal("0.8589589418")  # 1 / 1.1642, ten decimals
    gbp_usd = await rates.rate("GBP", "USD", FRIDAY, correlation_id=CID)
    assert gbp_usd.rate == Decimal("1.3397008055")  # 1.1642 / 0.86900
    assert gbp_usd.quote == "USD" and gbp_usd.base == "GBP"


async def test_a_days_rates_are_asked_once(rates: EcbRatesAdapter, ecb: FakeEcb) -> None:
    for _ in range(3):
        await rates.rate("GBP", "USD", FRIDAY, correlation_id=CID)
    await rates.rate("EUR", "USD", FRIDAY, correlation_id=CID)
    assert len(ecb.requests) == 1
    assert ecb.requests[0].url.path == "/service/data/EXR/D.GBP+USD.EUR.SP00.A"


async def test_a_currency_the_ecb_does_not_publish_is_not_found(
        rates: EcbRatesAdapter) -> None:
    with pytest.raises(NotFoundError, match="no KWD reference rate"):
        await rates.rate("KWD", "USD", FRIDAY, correlation_id=CID)
    with pytest.raises(NotFoundError, match="no USD reference rate"):
        await rates.rate("EUR", "USD", dt.date(2025, 6, 1), correlation_id=CID)


async def test_the_worker_uses_the_ecb_when_configured() -> None:
    async with configured_ports(Settings(rates_connector="ecb"), Secrets()) as ports:
        assert isinstance(ports.rates, EcbRatesAdapter)


async def test_an_invoice_issued_on_a_sunday_books_at_fridays_ecb_rate(
        rates: EcbRatesAdapter) -> None:
    invoice = eur_invoice().model_copy(update={"issued_on": SUNDAY})
    result = await ActivityEnvironment().run(
        RulesActivities(ENTITIES, rates=rates).invoice_journal,
        InvoiceJournalInput(invoice=invoice, tax=None, correlation_id=CID))
    assert result.entry.rate == Decimal("1.1642")  # EUR -> USD, the entity's currency
    ar = result.entry.lines[0]
    assert ar.functional_amount == Money.of(ar.amount.amount * Decimal("1.1642"), "USD")
