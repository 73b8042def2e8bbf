"""hledger and beancount exports: account names, commodities, prices on foreign lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from canonical import posting
from canonical.exports import beancount_ledger, hledger_journal
from canonical.money import Money
from canonical.payment import Payment
from settings import load_entities
from tests.unit.test_posting_fx import eur_invoice

ENTITIES = load_entities(Path("config/entities.toml"))
US = ENTITIES["US01"].chart


def entries() -> list:
    inv = posting.invoice_entry(eur_invoice(), US, rate=Decimal("1.1"))
    pay = posting.payment_entry(
        Payment(payment_id="p1", invoice_id="in_eur", customer_id="c1", legal_entity="US01",
                amount=Money.of("1010.10", "EUR"), received_on=dt.date(2026, 2, 1)),
        US, rate=Decimal("1.12"), invoice_rate=Decimal("1.1"))
    return [pay, inv]  # out of order on purpose


def test_hledger_journal_prices_foreign_lines_in_the_functional_currency() -> None:
    text = hledger_journal(entries(), ENTITIES)
    assert "commodity 1000.00 EUR" in text and "commodity 1000.00 USD" in text
    assert "account assets:US01:receivables:1200" in text
    assert "    assets:US01:receivables:1200  1010.10 EUR @@ 1111.11 USD" in text
    assert "    expenses:US01:fx-gain-loss:7900  -20.20 USD  ; realised FX difference" in text
    assert "external_id:inv:in_eur" in text and "rate:1.1" in text
    assert text.index("2026-01-01 *") < text.index("2026-02-01 *")  # ordered by date


def test_beancount_opens_every_account_with_its_currencies() -> None:
    text = beancount_ledger(entries(), ENTITIES)
    assert "2026-01-01 open Assets:US01:Receivables:1200 EUR,USD" in text
    assert "2026-01-01 open Expenses:US01:FxGainLoss:7900 EUR,USD" in text
    assert "  Income:US01:Usage:4100  -10.05 EUR @@ 11.06 USD" in text
    assert '  external_id: "pay:p1"' in text


def test_export_of_one_entity_leaves_the_others_out() -> None:
    de = posting.invoice_entry(eur_invoice().model_copy(update={"legal_entity": "DE01"}),
                               ENTITIES["DE01"].chart)
    text = hledger_journal([*entries(), de], {"US01": ENTITIES["US01"]})
    assert "DE01" not in text
