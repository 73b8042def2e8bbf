"""The rate port over the European Central Bank's euro reference rates (ECB Data Portal).

The ECB publishes, each TARGET business day around 16:00 CET, how many units of some 30
currencies one euro buys (series EXR D.{currency}.EUR.SP00.A). A pair's rate on a day is
the latest publication on or before it (weekends and holidays take the last business
day's); a pair without the euro is crossed through it (quote per euro ÷ base per euro)
and cut to canonical.fx.RATE_DECIMALS like every derived rate. The API needs no key. A
currency the ECB does not publish (KWD among them) is a NotFoundError: the document
parks, visibly, rather than being booked at a guessed rate.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

import httpx

from adapters.http import call
from canonical.errors import CashloopError, NotFoundError, UnavailableError
from canonical.fx import ExchangeRate, quantize_rate

SYSTEM = "rates"
ECB_API = "https://data-api.ecb.europa.eu"
SOURCE = "ECB euro reference rate"
# How far back a day looks for the last publication (Easter closes TARGET for four days).
LOOKBACK = dt.timedelta(days=10)


def ecb_client(*, base_url: str = ECB_API, timeout: httpx.Timeout | float = 30.0,
               transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)


class EcbRatesAdapter:
    """`RatePort` of the ECB's reference rates, with the answers kept (a published rate
    does not change), so a day's documents ask the ECB once per currency.

    Args:
        client: from `ecb_client`.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._per_euro: dict[tuple[str, dt.date], tuple[Decimal, dt.date]] = {}

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        if base == quote:
            return ExchangeRate(base=base, quote=quote, rate=Decimal(1), effective_from=on,
                                source=SOURCE)
        wanted = sorted({c for c in (base, quote) if c != "EUR"} - {
            c for c in (base, quote) if (c, on) in self._per_euro})
        if wanted:
            await self._fetch(wanted, on, correlation_id)
        base_rate, base_day = self._of(base, on)
        quote_rate, quote_day = self._of(quote, on)
        rate = quote_rate if base == "EUR" else quantize_rate(quote_rate / base_rate)
        return ExchangeRate(base=base, quote=quote, rate=rate,
                            effective_from=max(base_day, quote_day), source=SOURCE)

    def _of(self, currency: str, on: dt.date) -> tuple[Decimal, dt.date]:
        if currency == "EUR":
            return Decimal(1), dt.date.min
        found = self._per_euro.get((currency, on))
        if found is None:
            raise NotFoundError(f"the ECB publishes no {currency} reference rate between "
                                f"{(on - LOOKBACK).isoformat()} and {on.isoformat()}",
                                system=SYSTEM)
        return found

    async def _fetch(self, currencies: list[str], on: dt.date, cid: str) -> None:
        key = f"D.{'+'.join(currencies)}.EUR.SP00.A"
        response = await call(
            self._client, "GET", f"/service/data/EXR/{key}", system=SYSTEM,
            correlation_id=cid, answers=frozenset({404}),
            params={"startPeriod": (on - LOOKBACK).isoformat(), "endPeriod": on.isoformat(),
                    "format": "csvdata"})
        if response.status_code == 404:  # "No results found": none of them in the window
            return
        latest: dict[str, tuple[Decimal, dt.date]] = {}
        for row in csv.DictReader(io.StringIO(response.text)):
            try:
                day = dt.date.fromisoformat(row["TIME_PERIOD"])
                currency, raw = row["CURRENCY"], row["OBS_VALUE"]
            except (KeyError, ValueError) as exc:
                raise UnavailableError(f"the ECB answered a row Cashloop cannot read: {row}",
                                       system=SYSTEM) from exc
            try:
                value = Decimal(raw)
            except InvalidOperation:
                continue  # no observation that day (an empty value)
            if (value.is_finite() and value > 0 and day <= on
                    and (currency not in latest or day > latest[currency][1])):
                latest[currency] = (value, day)
        for currency, found in latest.items():
            self._per_euro[(currency, on)] = found


async def check_ecb(client: httpx.AsyncClient, today: dt.date) -> list[str]:
    """Whether the ECB answers a euro rate of the last days."""
    try:
        await EcbRatesAdapter(client).rate("EUR", "USD", today, correlation_id="check")
    except CashloopError as exc:
        return [f"ECB: {exc.message}"]
    return []
