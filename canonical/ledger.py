"""Journal entries: the only thing that reaches a ledger, always balanced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from .base import Canonical, EntityCode, Id
from .errors import UnbalancedJournalError
from .money import CurrencyCode, Money


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class JournalLine(Canonical):
    account: str
    side: Side
    amount: Money  # positive, in the entry's transaction currency
    # The same amount in the legal entity's functional currency when it differs.
    functional_amount: Money | None = None
    customer_id: str | None = None
    memo: str = ""

    @model_validator(mode="after")
    def _positive(self) -> JournalLine:
        if self.amount.amount < 0:
            raise ValueError("journal line amounts are positive; use the side for direction")
        return self


class JournalEntry(Canonical):
    """A balanced journal entry; `external_id` is the ERP idempotency key."""

    external_id: Id
    legal_entity: EntityCode
    posting_date: dt.date
    currency: CurrencyCode
    lines: list[JournalLine] = Field(min_length=2)
    memo: str = ""
    source_type: str  # invoice, credit_memo, payment, refund, recognition, write_off, ...
    source_id: str
    functional_currency: CurrencyCode | None = None
    rate: Decimal | None = None  # functional units per transaction unit
    correlation_id: str | None = None

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntry:
        for line in self.lines:
            if line.amount.currency != self.currency:
                raise ValueError(f"line on {line.account} is in {line.amount.currency}, "
                                 f"entry in {self.currency}")
        debit, credit = _sums(self.lines, functional=False)
        if debit != credit:
            raise UnbalancedJournalError(
                f"{self.external_id}: debits {debit} != credits {credit} {self.currency}",
                system="ledger",
            )
        if any(line.functional_amount is not None for line in self.lines):
            fdebit, fcredit = _sums(self.lines, functional=True)
            if fdebit != fcredit:
                raise UnbalancedJournalError(
                    f"{self.external_id}: functional debits {fdebit} != credits {fcredit}",
                    system="ledger",
                )
        return self

    @property
    def total_debits(self) -> Money:
        return Money(amount=_sums(self.lines, functional=False)[0], currency=self.currency)


def _sums(lines: list[JournalLine], *, functional: bool) -> tuple[Decimal, Decimal]:
    debit = credit = Decimal(0)
    for line in lines:
        money = line.functional_amount if functional else line.amount
        if money is None:
            raise ValueError("either every line has a functional amount or none does")
        if line.side == Side.DEBIT:
            debit += money.amount
        else:
            credit += money.amount
    return debit, credit
