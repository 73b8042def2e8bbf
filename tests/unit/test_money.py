"""Money: exact decimals per currency, never floats, no cent created or lost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canonical.money import CurrencyMismatchError, Money, minor_units, total


@pytest.mark.parametrize(("currency", "decimals"), [("JPY", 0), ("USD", 2), ("EUR", 2),
                                                    ("KWD", 3)])
def test_minor_units_follow_iso_4217(currency: str, decimals: int) -> None:
    assert minor_units(currency) == decimals


@pytest.mark.parametrize(("raw", "currency", "expected"), [
    ("10.005", "USD", "10.01"), ("10.004", "USD", "10.00"), ("-10.005", "USD", "-10.01"),
    ("1234.5", "JPY", "1235"), ("1.0005", "KWD", "1.001"), ("0.0004", "KWD", "0.000"),
])
def test_of_rounds_half_away_from_zero_to_the_minor_unit(raw: str, currency: str,
                                                         expected: str) -> None:
    assert Money.of(raw, currency).amount == Decimal(expected)
    assert str(Money.of(raw, currency).amount) == expected


def test_input_finer_than_the_minor_unit_is_rejected_not_rounded() -> None:
    with pytest.raises(ValidationError) as err:
        Money(amount=Decimal("1.001"), currency="USD")
    assert err.value.errors()[0]["type"] == "value_error"
    with pytest.raises(ValidationError):
        Money(amount=Decimal("100.5"), currency="JPY")


def test_floats_are_refused() -> None:
    with pytest.raises(ValidationError):
        Money(amount=0.1, currency="USD")  # type: ignore[arg-type]


def test_trailing_zeros_are_normalised_to_the_minor_unit() -> None:
    assert str(Money(amount=Decimal("100"), currency="KWD").amount) == "100.000"
    assert str(Money(amount=Decimal("100.0"), currency="JPY").amount) == "100"


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "U$D"])
def test_currency_must_be_an_iso_code(code: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal(1), currency=code)


def test_mixing_currencies_is_an_error() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money.of(1, "USD") + Money.of(1, "EUR")


def test_json_round_trip_keeps_the_amount_as_a_string() -> None:
    m = Money.of("12.30", "USD")
    assert m.model_dump(mode="json") == {"amount": "12.30", "currency": "USD"}
    assert Money.model_validate_json(m.model_dump_json()) == m


@given(cents=st.integers(min_value=1, max_value=10**12),
       weights=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=24),
       currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_allocate_sums_exactly(cents: int, weights: list[int], currency: str) -> None:
    money = Money(amount=Decimal(cents).scaleb(-minor_units(currency)), currency=currency)
    parts = money.allocate(weights)
    assert total(parts, currency) == money
    assert all(p.amount >= 0 for p in parts)
