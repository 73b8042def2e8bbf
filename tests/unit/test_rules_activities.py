"""The posting-rule local activities with a rate provider (FX stays out of workflow code)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.io import InvoiceJournalInput, PaymentJournalInput, RecognitionJournalsInput
from activities.rules import RulesActivities
from adapters.erp.port import OpenRevenuePeriod
from canonical.money import Money
from canonical.payment import Payment
from settings import load_entities
from tests.unit.fakes import FakeRates
from tests.unit.test_posting_fx import eur_invoice

ENTITIES = load_entities(Path("config/entities.toml"))


async def test_invoice_journal_looks_up_the_rate_and_books_functional_schedules() -> None:
    rates = FakeRates({("EUR", "USD"): Decimal("1.1")})
    rules = RulesActivities(ENTITIES, rates=rates)
    result = await ActivityEnvironment().run(
        rules.invoice_journal, InvoiceJournalInput(invoice=eur_invoice(), tax=None,
                                                   correlation_id="c"))
    assert rates.calls == [("EUR", "USD", dt.date(2026, 1, 1))]
    assert result.rate == result.entry.rate == Decimal("1.1")
    assert result.schedules[0].functional_total == Money.of("1100.06", "USD")


async def test_payment_journal_relieves_ar_at_the_booking_rate() -> None:
    rules = RulesActivities(ENTITIES, rates=FakeRates({("EUR", "USD"): Decimal("1.12")}))
    pay = Payment(payment_id="p", invoice_id="in_eur", customer_id="c1", legal_entity="US01",
                  amount=Money.of("1010.10", "EUR"), received_on=dt.date(2026, 2, 1))
    entry = await ActivityEnvironment().run(rules.payment_journal, PaymentJournalInput(
        payment=pay, correlation_id="c", invoice_rate=Decimal("1.1")))
    assert [str(ln.functional_amount.amount) for ln in entry.lines  # type: ignore[union-attr]
            ] == ["1131.31", "1111.11", "20.20"]


async def test_functional_currency_documents_need_no_rate_provider() -> None:
    pay = Payment(payment_id="p", invoice_id="i", customer_id="c1", legal_entity="US01",
                  amount=Money.of("10.00", "USD"), received_on=dt.date(2026, 2, 1))
    entry = await ActivityEnvironment().run(RulesActivities(ENTITIES).payment_journal,
                                            PaymentJournalInput(payment=pay, correlation_id="c"))
    assert entry.rate is None


async def test_foreign_document_without_rate_provider_fails_for_good() -> None:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(
            RulesActivities(ENTITIES).invoice_journal,
            InvoiceJournalInput(invoice=eur_invoice(), tax=None, correlation_id="c"))
    assert (err.value.type, err.value.non_retryable) == ("rules.no_rate_provider", True)


async def test_unknown_rate_fails_for_good_with_the_providers_kind() -> None:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(
            RulesActivities(ENTITIES, rates=FakeRates()).invoice_journal,
            InvoiceJournalInput(invoice=eur_invoice(), tax=None, correlation_id="c"))
    assert (err.value.type, err.value.non_retryable) == ("rates.not_found", True)


async def test_recognition_journals_use_the_schedules_functional_amounts() -> None:
    period = OpenRevenuePeriod(
        schedule_id="s1", legal_entity="US01", customer_id="c1", period="2026-01",
        start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1), amount=Money.of("84.94", "EUR"),
        functional_amount=Money.of("93.43", "USD"), rate=Decimal("1.1"))
    rates = FakeRates()
    [entry] = await ActivityEnvironment().run(
        RulesActivities(ENTITIES, rates=rates).recognition_journals,
        RecognitionJournalsInput(periods=[period], correlation_id="c"))
    assert entry.external_id == "rev:s1:2026-01"
    assert entry.posting_date == dt.date(2026, 1, 31)
    assert {str(ln.functional_amount.amount) for ln in entry.lines  # type: ignore[union-attr]
            } == {"93.43"}
    assert rates.calls == []  # recognised at the booking rate, no new lookup
