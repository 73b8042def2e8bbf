"""Posting-rule evaluation, run as local activities.

The rules are pure, but they run as local activities rather than inline in the
workflow so their results are recorded in history: a later change of a posting
rule or of the chart of accounts never breaks the replay of an old history.
Exchange rates are looked up here too (rate provider port), so a foreign-currency
entry reaches the workflow with its functional amounts and stored rate, and FX stays
out of workflow code.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.rates.port import RatePort
from canonical import posting
from canonical.accounts import ChartOfAccounts, LegalEntity
from canonical.catalog import RecognitionMethod
from canonical.ledger import JournalEntry
from canonical.schedules import schedules_for_invoice

from .errors import translated_errors
from .io import (
    CreditMemoJournalInput,
    InvoiceJournalInput,
    InvoiceJournalResult,
    MemoReleaseJournalInput,
    PaymentJournalInput,
    RecognitionJournalsInput,
    RefundJournalInput,
    WriteOffJournalInput,
)


class RulesActivities:
    def __init__(self, entities: dict[str, LegalEntity],
                 recognition: dict[str, RecognitionMethod] | None = None,
                 rates: RatePort | None = None) -> None:
        self._entities = entities
        self._recognition = recognition or {}
        self._rates = rates

    def _chart(self, legal_entity: str) -> ChartOfAccounts:
        try:
            return self._entities[legal_entity].chart
        except KeyError:
            raise ApplicationError(f"no chart of accounts for legal entity {legal_entity}",
                                   type="rules.unknown_entity", non_retryable=True) from None

    async def _rate(self, currency: str, chart: ChartOfAccounts, on: dt.date,
                    correlation_id: str) -> Decimal | None:
        """Functional units per `currency` unit on `on`; None in the functional currency."""
        if currency == chart.functional_currency:
            return None
        if self._rates is None:
            raise ApplicationError(f"{currency} document for {chart.legal_entity} needs a rate "
                                   "and no rate provider is configured",
                                   type="rules.no_rate_provider", non_retryable=True)
        with translated_errors():
            found = await self._rates.rate(currency, chart.functional_currency, on,
                                           correlation_id=correlation_id)
        return found.rate

    async def _booking_rate(self, currency: str, chart: ChartOfAccounts,
                            invoice_rate: Decimal | None, on: dt.date,
                            correlation_id: str) -> Decimal | None:
        """The booking rate of the invoice a document undoes; `on`'s rate when unknown."""
        if currency != chart.functional_currency and invoice_rate is not None:
            return invoice_rate
        return await self._rate(currency, chart, on, correlation_id)

    @activity.defn
    async def invoice_journal(self, req: InvoiceJournalInput) -> InvoiceJournalResult:
        invoice = req.invoice
        if req.tax is not None and invoice.tax is None:
            invoice = invoice.model_copy(update={"tax": req.tax})
        chart = self._chart(invoice.legal_entity)
        rate = await self._rate(invoice.currency, chart, invoice.issued_on, req.correlation_id)
        with translated_errors():
            entry = posting.invoice_entry(invoice, chart, req.correlation_id, rate)
        return InvoiceJournalResult(
            entry=entry, rate=rate,
            schedules=schedules_for_invoice(invoice, self._recognition,
                                            chart.functional_currency, rate))

    @activity.defn
    async def credit_memo_journal(self, req: CreditMemoJournalInput) -> JournalEntry:
        memo = req.credit_memo
        chart = self._chart(memo.legal_entity)
        rate = await self._booking_rate(
            memo.currency, chart, req.invoice_rate or req.invoice_rates.get(memo.invoice_id or ""),
            memo.issued_on, req.correlation_id)
        with translated_errors():
            return posting.credit_memo_entry(memo, chart, req.correlation_id,
                                             req.deferred_release, rate,
                                             req.deferred_release_functional,
                                             req.invoice_rates, req.settles)

    @activity.defn
    async def payment_journal(self, req: PaymentJournalInput) -> JournalEntry:
        p = req.payment
        chart = self._chart(p.legal_entity)
        rate = await self._rate(p.amount.currency, chart, p.received_on, req.correlation_id)
        with translated_errors():
            return posting.payment_entry(p, chart, req.correlation_id, rate, req.invoice_rate,
                                         req.settles)

    @activity.defn
    async def refund_journal(self, req: RefundJournalInput) -> JournalEntry:
        r = req.refund
        chart = self._chart(r.legal_entity)
        rate = await self._rate(r.amount.currency, chart, r.refunded_on, req.correlation_id)
        with translated_errors():
            return posting.refund_entry(r, chart, req.correlation_id, rate, req.invoice_rate)

    @activity.defn
    async def write_off_journal(self, req: WriteOffJournalInput) -> JournalEntry:
        chart = self._chart(req.legal_entity)
        rate = await self._booking_rate(req.amount.currency, chart, req.invoice_rate,
                                        req.posting_date, req.correlation_id)
        with translated_errors():
            return posting.write_off_entry(req.invoice_id, req.amount, req.legal_entity,
                                           req.customer_id, req.posting_date, chart,
                                           req.correlation_id, rate, req.settles)

    @activity.defn
    async def memo_release_journal(self, req: MemoReleaseJournalInput) -> JournalEntry:
        chart = self._chart(req.legal_entity)
        rate = await self._booking_rate(req.released.currency, chart, req.invoice_rate,
                                        req.posting_date, req.correlation_id)
        with translated_errors():
            return posting.memo_release_entry(
                req.credit_memo_id, req.released, req.legal_entity, req.customer_id,
                req.posting_date, chart, req.correlation_id, rate, req.released_functional)

    @activity.defn
    async def recognition_journals(self, req: RecognitionJournalsInput) -> list[JournalEntry]:
        """Recognition entries of open schedule periods, each dated on its period's last day.

        A foreign-currency period is recognised at its schedule's booking rate with the
        functional amount the schedule holds for it (no new rate lookup).
        """
        entries = []
        for p in req.periods:
            chart = self._chart(p.legal_entity)
            with translated_errors():
                entries.append(posting.recognition_entry(
                    p.schedule_id, p.period, p.amount, p.legal_entity, p.customer_id,
                    p.end - dt.timedelta(days=1), chart, req.correlation_id,
                    p.functional_amount, p.rate))
        return entries
