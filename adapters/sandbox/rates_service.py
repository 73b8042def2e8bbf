"""The sandbox rate provider: a fixed table of exchange rates as an HTTP service.

Rates are quoted against USD with the day they take effect; a pair's rate on a day is
the latest quote effective on or before it. Other pairs are derived through USD (and
cut to canonical.fx.RATE_DECIMALS); the rate answered is what the entry stores.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import FastAPI

from canonical.fx import ExchangeRate, quantize_rate

from .common import SandboxError, new_app
from .faults import FaultSettings

# USD per unit of the currency, from the day given. Fixed, so tests can hand-check.
USD_PER_UNIT: dict[str, list[tuple[dt.date, Decimal]]] = {
    "USD": [(dt.date(2000, 1, 1), Decimal(1))],
    "EUR": [(dt.date(2000, 1, 1), Decimal("1.0800")), (dt.date(2026, 1, 1), Decimal("1.1000")),
            (dt.date(2026, 2, 1), Decimal("1.1200")), (dt.date(2026, 4, 1), Decimal("1.0900")),
            (dt.date(2026, 7, 1), Decimal("1.1500"))],
    "JPY": [(dt.date(2000, 1, 1), Decimal("0.0067")), (dt.date(2026, 1, 1), Decimal("0.0065")),
            (dt.date(2026, 4, 1), Decimal("0.0068"))],
    "KWD": [(dt.date(2000, 1, 1), Decimal("3.2500")), (dt.date(2026, 1, 1), Decimal("3.2550"))],
    "GBP": [(dt.date(2000, 1, 1), Decimal("1.2700")), (dt.date(2026, 1, 1), Decimal("1.2650"))],
    "CAD": [(dt.date(2000, 1, 1), Decimal("0.7400")), (dt.date(2026, 1, 1), Decimal("0.7300"))],
}
SOURCE = "cashloop-sandbox-fixed-table"


def _usd_per_unit(currency: str, on: dt.date) -> tuple[dt.date, Decimal]:
    quotes = USD_PER_UNIT.get(currency)
    if quotes is None:
        raise SandboxError(404, "unknown_currency", f"no rates for {currency}")
    valid = [q for q in quotes if q[0] <= on]
    if not valid:
        raise SandboxError(404, "no_rate", f"no {currency} rate on {on.isoformat()}")
    return valid[-1]


def lookup(base: str, quote: str, on: dt.date) -> ExchangeRate:
    """The rate of base->quote on a day, from the table."""
    base_from, base_usd = _usd_per_unit(base, on)
    quote_from, quote_usd = _usd_per_unit(quote, on)
    rate = Decimal(1) if base == quote else (
        base_usd if quote == "USD" else quantize_rate(base_usd / quote_usd))
    return ExchangeRate(base=base, quote=quote, rate=rate,
                        effective_from=max(base_from, quote_from), source=SOURCE)


def create_rates_app(faults: FaultSettings | None = None, name: str = "rates") -> FastAPI:
    """The rate sandbox (no database: the table is fixed)."""
    app = new_app(name, faults)

    @app.get("/v1/rates/{base}/{quote}")
    def get_rate(base: str, quote: str, on: dt.date) -> ExchangeRate:
        """Units of `quote` per unit of `base` on day `on`."""
        return lookup(base.upper(), quote.upper(), on)

    @app.get("/v1/rates")
    def table() -> dict[str, list[dict[str, str]]]:
        """The whole fixed table (USD per unit, by effective date)."""
        return {cur: [{"effective_from": d.isoformat(), "usd_per_unit": str(r)}
                      for d, r in quotes] for cur, quotes in USD_PER_UNIT.items()}

    return app
