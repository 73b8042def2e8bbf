"""An in-memory ECB Data Portal for the ECB rates connector's tests (an httpx transport).

It answers `GET /service/data/EXR/D.{C1+C2...}.EUR.SP00.A?startPeriod&endPeriod&format=
csvdata` as the ECB's data API documents: one CSV row per observation (the EXR columns
the connector reads among others), only the days in the window, and 404 "No results
found." when the window holds none. The observations are illustrative values (not the
ECB's figures) on real business days: a Wednesday to Friday and the Monday after.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

import httpx

HEADER = ["KEY", "FREQ", "CURRENCY", "CURRENCY_DENOM", "EXR_TYPE", "EXR_SUFFIX", "TIME_PERIOD",
          "OBS_VALUE", "OBS_STATUS", "OBS_CONF", "TITLE", "UNIT", "DECIMALS"]
_KEY = re.compile(r"^/service/data/EXR/D\.([A-Z+]+)\.EUR\.SP00\.A$")


def _published() -> dict[str, dict[dt.date, str]]:
    days = [dt.date(2026, 1, d) for d in (7, 8, 9, 12)]  # Wed-Fri, then Monday
    return {"USD": dict(zip(days, ["1.1683", "1.1659", "1.1642", "1.1675"], strict=True)),
            "JPY": dict(zip(days, ["182.74", "182.95", "183.51", "183.20"], strict=True)),
            "GBP": dict(zip(days, ["0.86765", "0.86830", "0.86900", "0.86805"], strict=True))}


@dataclass
class FakeEcb:
    observations: dict[str, dict[dt.date, str]] = field(default_factory=_published)
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        match = _KEY.match(request.url.path)
        params = request.url.params
        if match is None or params.get("format") != "csvdata":
            return httpx.Response(400, text="Bad request")
        start = dt.date.fromisoformat(params["startPeriod"])
        end = dt.date.fromisoformat(params["endPeriod"])
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADER)
        rows = 0
        for currency in match.group(1).split("+"):
            for day, value in sorted(self.observations.get(currency, {}).items()):
                if start <= day <= end:
                    writer.writerow([f"EXR.D.{currency}.EUR.SP00.A", "D", currency, "EUR",
                                     "SP00", "A", day.isoformat(), value, "A", "F",
                                     f"{currency}/EUR", currency, "4"])
                    rows += 1
        if not rows:
            return httpx.Response(404, text="No results found.")
        return httpx.Response(200, text=out.getvalue(),
                              headers={"Content-Type": "text/csv"})
