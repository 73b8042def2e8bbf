"""The sandbox tax engine's rate table and rounding to each currency's minor unit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from adapters.sandbox.tax_service import line_tax, rate_for, tax_result
from canonical.customer import Address
from canonical.money import Money


@pytest.mark.parametrize(("country", "region", "rate", "jurisdiction", "nexus"), [
    ("US", "CA", "0.0725", "US-CA", True),
    ("US", "NY", "0.08875", "US-NY", True),
    ("US", "OR", "0", "US-OR", False),
    ("US", None, "0", "US", False),
    ("CA", "ON", "0.05", "CA", True),
    ("DE", None, "0.19", "DE", True),
    ("NL", None, "0.21", "NL", True),
    ("JP", None, "0.10", "JP", True),
    ("BR", None, "0", "BR", False),
])
def test_rate_table(country: str, region: str | None, rate: str, jurisdiction: str,
                    nexus: bool) -> None:
    assert rate_for(country, region) == (Decimal(rate), jurisdiction, nexus)


@pytest.mark.parametrize(("amount", "currency", "rate", "tax"), [
    ("1234", "JPY", "0.10", "123"),      # 123.4
    ("1235", "JPY", "0.10", "124"),      # 123.5: half away from zero
    ("1.234", "KWD", "0.19", "0.234"),   # 0.23446
    ("1.235", "KWD", "0.20", "0.247"),
    ("10.00", "USD", "0.08875", "0.89"),  # 0.8875
    ("-10.00", "USD", "0.08875", "-0.89"),
])
def test_line_tax_rounds_to_the_minor_unit(amount: str, currency: str, rate: str,
                                           tax: str) -> None:
    result = line_tax(Money(amount=Decimal(amount), currency=currency), Decimal(rate))
    assert result == Money(amount=Decimal(tax), currency=currency)


def test_exempt_lines_are_not_taxed() -> None:
    ship_to = Address(line1="x", city="Berlin", postal_code="10115", country="DE")
    eur = Money(amount=Decimal("100.00"), currency="EUR")
    result = tax_result("TQ-1", "EUR", ship_to, [("a", eur, "SAAS"), ("b", eur, "EXEMPT")],
                        dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert [t.amount.amount for t in result.lines] == [Decimal("19.00"), Decimal("0.00")]
    assert result.total.amount == Decimal("19.00")
