"""The rate provider port: the exchange rate of a currency pair on a day."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from canonical.fx import ExchangeRate


class RatePort(Protocol):
    """A source of exchange rates (a treasury system, a central bank feed, the sandbox)."""

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        """Units of `quote` per unit of `base` valid on `on`; NotFoundError if unknown."""
        ...
