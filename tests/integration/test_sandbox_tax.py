"""The sandbox tax engine over real HTTP: rates, rounding, idempotency by invoice id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from adapters.sandbox.serve import running_sandboxes
from adapters.tax.sandbox import SandboxTaxAdapter
from canonical.errors import InvalidDataError
from canonical.money import Money
from tests.sandbox_harness import ENTITIES, address, invoice, sqlite_stores


@pytest.fixture(scope="module")
async def tax_client(tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[httpx.AsyncClient]:
    stores = sqlite_stores(tmp_path_factory.mktemp("tax"))
    async with running_sandboxes(["tax"], stores, ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["tax"], timeout=30) as client:
        yield client


@pytest.fixture
def tax(tax_client: httpx.AsyncClient) -> SandboxTaxAdapter:
    return SandboxTaxAdapter(tax_client)


async def test_california_invoice_is_taxed_per_line(tax: SandboxTaxAdapter) -> None:
    inv = invoice(amount="1200.00", usage="33.33")
    result = await tax.calculate(inv, address("US", "CA"), correlation_id="c")
    assert result.calculation_id == f"TX-{inv.invoice_id}"
    assert [(t.line_id, t.jurisdiction, t.rate) for t in result.lines] == [
        ("l1", "US-CA", Decimal("0.0725")), ("u1", "US-CA", Decimal("0.0725"))]
    # 1200.00 * 7.25% = 87.00; 33.33 * 7.25% = 2.416425 -> 2.42
    assert [t.amount.amount for t in result.lines] == [Decimal("87.00"), Decimal("2.42")]
    assert result.total == Money(amount=Decimal("89.42"), currency="USD")


async def test_repeat_returns_the_stored_result_unchanged(tax: SandboxTaxAdapter) -> None:
    inv = invoice()
    first = await tax.calculate(inv, address("US", "NY"), correlation_id="c")
    again = await tax.calculate(inv, address("US", "TX"), correlation_id="c")
    assert again == first  # same rates, same calculated_at


async def test_state_without_nexus_is_not_taxed(tax: SandboxTaxAdapter) -> None:
    result = await tax.calculate(invoice(), address("US", "OR"), correlation_id="c")
    assert result.total.is_zero()
    assert result.lines[0].jurisdiction == "US-OR"


async def test_yen_tax_rounds_to_whole_yen(tax: SandboxTaxAdapter) -> None:
    inv = invoice(amount="12345", currency="JPY", legal_entity="JP01")
    result = await tax.calculate(inv, address("JP", None), correlation_id="c")
    assert result.total == Money(amount=Decimal("1235"), currency="JPY")  # 1234.5 -> 1235


async def test_nexus_and_quote(tax: SandboxTaxAdapter) -> None:
    de = await tax.nexus("DE", correlation_id="c")
    assert (de.has_nexus, de.rate, de.jurisdiction) == (True, Decimal("0.19"), "DE")
    br = await tax.nexus("BR", correlation_id="c")
    assert (br.has_nexus, br.rate) == (False, Decimal(0))
    quote = await tax.quote("KWD", address("DE", None),
                            [("a", Money(amount=Decimal("1.234"), currency="KWD"))],
                            correlation_id="c")
    assert quote.total == Money(amount=Decimal("0.234"), currency="KWD")  # 0.23446


async def test_quote_finer_than_the_minor_unit_is_invalid(
        tax_client: httpx.AsyncClient) -> None:
    response = await tax_client.post("/v1/tax/quote", json={
        "currency": "JPY", "ship_to": address("JP", None).model_dump(mode="json"),
        "lines": [{"line_id": "a", "amount": "10.5"}]})
    assert (response.status_code, response.json()["type"]) == (422, "validation")
    with pytest.raises(InvalidDataError):
        await SandboxTaxAdapter(tax_client).quote(
            "XXXX", address(), [("a", Money(amount=Decimal(1), currency="USD"))],
            correlation_id="c")
