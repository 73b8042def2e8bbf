"""Foreign currency: exchange rates and the functional amounts of journal entries.

A transaction in another currency than the legal entity's functional currency is
booked with both amounts. Each line's functional amount is its transaction amount
times the rate, rounded to the functional currency's minor unit. Where those rounded
amounts do not balance, the difference goes on an explicit rounding line on the FX
gain/loss account (transaction amount zero), so receivables, cash and deferred
revenue always carry exactly their own converted amounts (docs/accounting.md "FX").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import Field, field_validator

from .base import Canonical
from .billing import CreditMemo
from .ledger import JournalEntry, JournalLine, Side
from .money import CurrencyCode, Money, quantum, round_amount

# Rates are quoted with at most this many decimals (an ERP's usual rate precision).
RATE_DECIMALS = 10


class ExchangeRate(Canonical):
    """`rate` units of `quote` for one unit of `base`, valid from `effective_from`."""

    base: CurrencyCode
    quote: CurrencyCode
    rate: Decimal = Field(gt=0)
    effective_from: dt.date
    source: str = ""

    @field_validator("rate", mode="before")
    @classmethod
    def _no_floats(cls, v: object) -> object:
        if isinstance(v, float):
            raise ValueError("rate must be a decimal string, never a float")
        return v

    def convert(self, amount: Money) -> Money:
        """`amount` (in `base`) in `quote`, rounded to the quote currency's minor unit."""
        if amount.currency != self.base:
            raise ValueError(f"rate {self.base}->{self.quote} cannot convert {amount.currency}")
        return Money.of(amount.amount * self.rate, self.quote)


def quantize_rate(rate: Decimal) -> Decimal:
    """A derived rate (inverse, cross) cut to RATE_DECIMALS, half up."""
    return rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS), rounding="ROUND_HALF_UP")


def convert(amount: Money, rate: Decimal, functional_currency: str) -> Money:
    """`amount` times `rate`, rounded to `functional_currency`'s minor unit."""
    if amount.currency == functional_currency:
        return amount
    return Money(amount=round_amount(amount.amount * rate, functional_currency),
                 currency=functional_currency)


def settling_relief(relief: Money, receivable: Sequence[Decimal], rate: Decimal) -> Money:
    """The functional relief of the payment or write-off that settles a foreign receivable.

    `relief` is the document converted on its own; `receivable` what moved the invoice's
    receivable in its currency (the invoice +, payments and credits -, refunds and
    reversals +), each booked converted on its own at `rate`. What is left of the
    functional receivable differs from `relief` by at most half a minor unit per
    conversion; the settling document relieves exactly that, so the receivable ends at
    zero in both currencies. A larger gap means the movements are not the ones the books
    hold, and `relief` stands.
    """
    fc = relief.currency
    left = sum((round_amount(m * rate, fc) for m in receivable), Decimal(0))
    if abs(left - relief.amount) * 2 <= quantum(fc) * (len(receivable) + 1):
        return Money(amount=left, currency=fc)
    return relief


class CreditedFunctional(Canonical):
    """A credit memo's gross, tax and net in the functional currency."""

    gross: Money
    tax: Money
    net: Money


def credited_parts(memo: CreditMemo) -> dict[str, tuple[Decimal, Decimal]]:
    """A credit memo's net and tax per credited invoice, in its currency ("" for lines
    that name no invoice on a memo that names none)."""
    parts: dict[str, tuple[Decimal, Decimal]] = {}
    for line in memo.lines:
        key = line.invoice_id or memo.invoice_id or ""
        net, tax = parts.get(key, (Decimal(0), Decimal(0)))
        parts[key] = (net + line.amount.amount, tax + line.tax_amount.amount)
    return parts


def credited_functional(memo: CreditMemo, rate: Decimal,
                        invoice_rates: Mapping[str, Decimal],
                        functional_currency: str,
                        settles: Mapping[str, Sequence[Decimal]] | None = None
                        ) -> CreditedFunctional:
    """What a credit memo relieves, each credited invoice's part at that invoice's rate.

    A credit undoes part of an invoice, so it is booked at the rate the invoice was
    booked at: receivables and tax payable go down by what they went up by, and no FX
    difference arises (that is realised only on payment). `rate` serves lines whose
    invoice has no rate in `invoice_rates`. `settles`: per invoice this memo settles,
    its receivable's movements; that part relieves exactly what is left of it in the
    functional currency (settling_relief), as a settling payment does.
    """
    gross_f = tax_f = net_f = Decimal(0)
    for key, (net, tax) in credited_parts(memo).items():
        r = invoice_rates.get(key, rate)
        gross = Money(amount=round_amount((net + tax) * r, functional_currency),
                      currency=functional_currency)
        if settles is not None and key in settles:
            gross = settling_relief(gross, settles[key], r)
        gross_f += gross.amount
        tax_f += round_amount(tax * r, functional_currency)
        net_f += round_amount(net * r, functional_currency)
    return CreditedFunctional(
        gross=Money(amount=gross_f, currency=functional_currency),
        tax=Money(amount=tax_f, currency=functional_currency),
        net=Money(amount=net_f, currency=functional_currency))


def with_functional(entry: JournalEntry, functional_currency: str, rate: Decimal,
                    rounding_account: str,
                    fixed: Mapping[int, Money] | None = None,
                    difference_memo: str = "FX rounding") -> JournalEntry:
    """The entry with every line's functional amount, the rate stored on the entry.

    Args:
        entry: a balanced entry in its transaction currency.
        functional_currency: the legal entity's currency.
        rate: functional units per transaction unit.
        rounding_account: where a rounding difference goes (the FX gain/loss account).
        fixed: functional amounts decided elsewhere, by line index (e.g. the released
            deferral of a schedule cut, or receivables relieved at the invoice's rate);
            the other lines are converted at `rate`.
        difference_memo: memo of the line that takes the difference ("FX rounding", or
            "realised FX difference" on a payment).
    """
    if entry.currency == functional_currency:
        return entry
    fixed = fixed or {}
    lines = [ln.model_copy(update={"functional_amount": fixed[i] if i in fixed
                                   else convert(ln.amount, rate, functional_currency)})
             for i, ln in enumerate(entry.lines)]
    difference = Decimal(0)
    for ln in lines:
        assert ln.functional_amount is not None
        signed = ln.functional_amount.amount
        difference += signed if ln.side == Side.DEBIT else -signed
    if difference:
        lines.append(rounding_line(rounding_account, difference, entry.currency,
                                   functional_currency, difference_memo))
    return revalidated(entry.model_copy(update={
        "lines": lines, "functional_currency": functional_currency, "rate": rate}))


def rounding_line(account: str, debit_excess: Decimal, currency: str,
                  functional_currency: str, memo: str) -> JournalLine:
    """A line of zero transaction amount that absorbs `debit_excess` functional units."""
    side = Side.CREDIT if debit_excess > 0 else Side.DEBIT
    return JournalLine(account=account, side=side, amount=Money.zero(currency),
                       functional_amount=Money(amount=abs(debit_excess),
                                               currency=functional_currency),
                       memo=memo)


def revalidated(entry: JournalEntry) -> JournalEntry:
    """Run the balance checks again on an entry assembled with model_copy."""
    return JournalEntry.model_validate(entry.model_dump())
