"""Money: a Decimal amount with an ISO 4217 currency, exact to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

# ISO 4217 exponents that differ from the usual two decimals. Anything not listed has 2.
_MINOR_UNIT_EXCEPTIONS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# Commercial rounding (half away from zero) is what invoices and ERPs print.
ROUNDING = ROUND_HALF_UP


def _check_currency(code: str) -> str:
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise ValueError(f"currency must be a 3-letter upper-case ISO 4217 code, got {code!r}")
    return code


CurrencyCode = Annotated[str, AfterValidator(_check_currency)]


def minor_units(currency: str) -> int:
    """Number of decimals of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    return _MINOR_UNIT_EXCEPTIONS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    """The smallest representable amount of the currency, e.g. Decimal('0.01')."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """Round a computed amount to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUNDING)


class CurrencyMismatchError(ValueError):
    """Two amounts in different currencies were combined."""


class Money(BaseModel):
    """An exact amount of one currency.

    Construction from input rejects amounts finer than the minor unit (an upstream
    "10.005 USD" is a data error, not something to round silently); computed
    amounts go through `Money.of`, which rounds.
    """

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: CurrencyCode

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, v: Any) -> Any:
        if isinstance(v, float):
            raise ValueError("amount must be a decimal string or integer, never a float")
        return v

    @model_validator(mode="after")
    def _exact_to_minor_unit(self) -> Money:
        if not self.amount.is_finite():
            raise ValueError("amount must be finite")
        q = quantum(self.currency)
        try:
            exact = self.amount.quantize(q)
        except InvalidOperation as exc:
            raise ValueError(f"amount {self.amount} is too large") from exc
        if exact != self.amount:
            raise ValueError(
                f"{self.currency} has {minor_units(self.currency)} decimals; "
                f"amount {self.amount} is finer than that"
            )
        object.__setattr__(self, "amount", exact)
        return self

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Money from a computed amount, rounded to the minor unit."""
        return cls(amount=round_amount(Decimal(amount), currency), currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.of(0, currency)

    @classmethod
    def of_minor(cls, minor: int, currency: str) -> Money:
        """Money from integer minor units, as payment gateways count (JPY has none, KWD
        three): 1999 USD is 19.99."""
        return cls(amount=Decimal(minor).scaleb(-minor_units(currency)), currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __abs__(self) -> Money:
        return Money(amount=abs(self.amount), currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def times(self, factor: Decimal | int) -> Money:
        """Multiply and round to the minor unit."""
        return Money.of(self.amount * Decimal(factor), self.currency)

    def is_zero(self) -> bool:
        return self.amount == 0

    def allocate(self, weights: Sequence[Decimal | int]) -> list[Money]:
        """Split into parts proportional to `weights` that sum exactly to self.

        Each part is rounded down to the minor unit (toward zero); the remainder
        goes to the last part, so rounding never creates or loses a cent.
        """
        total_weight = sum((Decimal(w) for w in weights), Decimal(0))
        if not weights or total_weight == 0:
            raise ValueError("allocate needs weights with a non-zero sum")
        q = quantum(self.currency)
        parts = [
            (self.amount * Decimal(w) / total_weight).quantize(q, rounding="ROUND_DOWN")
            for w in weights
        ]
        parts[-1] += self.amount - sum(parts, Decimal(0))
        return [Money(amount=p, currency=self.currency) for p in parts]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of amounts (all in `currency`); zero for an empty iterable."""
    result = Money.zero(currency)
    for m in amounts:
        result = result + m
    return result
