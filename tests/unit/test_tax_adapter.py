"""SandboxTaxAdapter over httpx.MockTransport."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from adapters.http import CORRELATION_HEADER
from adapters.tax.sandbox import SandboxTaxAdapter
from canonical.billing import TaxLine, TaxResult
from canonical.errors import InvalidDataError, UnavailableError
from canonical.money import Money
from tests.sandbox_harness import address, invoice


def _tax(status: int, body: dict, seen: list[httpx.Request] | None = None) -> SandboxTaxAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    return SandboxTaxAdapter(httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                               base_url="http://tax"))


async def test_result_becomes_the_canonical_tax_result() -> None:
    inv = invoice()
    usd = Money(amount=Decimal("87.00"), currency="USD")
    expected = TaxResult(
        provider="sandbox-tax", calculation_id=f"TX-{inv.invoice_id}", total=usd,
        lines=[TaxLine(line_id="l1", jurisdiction="US-CA", rate=Decimal("0.0725"),
                       taxable=inv.lines[0].amount, amount=usd)],
        calculated_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    seen: list[httpx.Request] = []
    result = await _tax(200, expected.model_dump(mode="json"), seen).calculate(
        inv, address(), correlation_id="corr-9")
    assert result == expected
    assert seen[0].headers[CORRELATION_HEADER] == "corr-9"


@pytest.mark.parametrize(("status", "error"), [(422, InvalidDataError), (500, UnavailableError)])
async def test_errors_map_to_canonical_errors(status: int, error: type) -> None:
    with pytest.raises(error):
        await _tax(status, {"detail": "x"}).calculate(invoice(), address(), correlation_id="c")
