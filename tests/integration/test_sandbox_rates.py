"""The sandbox rate provider over HTTP: a fixed table, dated quotes, cross rates."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.rates.sandbox import SandboxRatesAdapter
from adapters.sandbox.serve import running_sandboxes
from canonical.errors import NotFoundError
from canonical.fx import quantize_rate
from tests.sandbox_harness import ENTITIES, sqlite_stores


@pytest.fixture
async def rates(tmp_path: Path) -> AsyncIterator[SandboxRatesAdapter]:
    async with running_sandboxes(["rates"], sqlite_stores(tmp_path), ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["rates"], timeout=10) as client:
        yield SandboxRatesAdapter(client)


async def test_rate_is_the_latest_quote_effective_on_the_day(
        rates: SandboxRatesAdapter) -> None:
    jan = await rates.rate("EUR", "USD", dt.date(2026, 1, 31), correlation_id="c")
    feb = await rates.rate("EUR", "USD", dt.date(2026, 2, 1), correlation_id="c")
    assert (jan.rate, jan.effective_from) == (Decimal("1.1000"), dt.date(2026, 1, 1))
    assert (feb.rate, feb.effective_from) == (Decimal("1.1200"), dt.date(2026, 2, 1))


async def test_cross_rates_go_through_usd(rates: SandboxRatesAdapter) -> None:
    eur_jpy = await rates.rate("EUR", "JPY", dt.date(2026, 1, 15), correlation_id="c")
    assert eur_jpy.rate == quantize_rate(Decimal("1.1000") / Decimal("0.0065"))
    usd_eur = await rates.rate("USD", "EUR", dt.date(2026, 1, 15), correlation_id="c")
    assert usd_eur.rate == quantize_rate(1 / Decimal("1.1000"))


async def test_unknown_currency_is_not_found(rates: SandboxRatesAdapter) -> None:
    with pytest.raises(NotFoundError):
        await rates.rate("XXX", "USD", dt.date(2026, 1, 15), correlation_id="c")
