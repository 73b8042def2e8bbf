"""Posting-rule evaluation, run as local activities.

The rules are pure, but they run as local activities rather than inline in the
workflow so their results are recorded in history: a later change of a posting
rule or of the chart of accounts never breaks the replay of an old history.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from canonical import posting
from canonical.accounts import ChartOfAccounts, LegalEntity
from canonical.catalog import RecognitionMethod
from canonical.ledger import JournalEntry
from canonical.schedules import schedules_for_invoice

from .io import (
    CreditMemoJournalInput,
    InvoiceJournalInput,
    InvoiceJournalResult,
    PaymentJournalInput,
    RefundJournalInput,
    WriteOffJournalInput,
)


class RulesActivities:
    def __init__(self, entities: dict[str, LegalEntity],
                 recognition: dict[str, RecognitionMethod] | None = None) -> None:
        self._entities = entities
        self._recognition = recognition or {}

    def _chart(self, legal_entity: str) -> ChartOfAccounts:
        try:
            return self._entities[legal_entity].chart
        except KeyError:
            raise ApplicationError(f"no chart of accounts for legal entity {legal_entity}",
                                   type="rules.unknown_entity", non_retryable=True) from None

    @activity.defn
    async def invoice_journal(self, req: InvoiceJournalInput) -> InvoiceJournalResult:
        invoice = req.invoice
        if req.tax is not None and invoice.tax is None:
            invoice = invoice.model_copy(update={"tax": req.tax})
        entry = posting.invoice_entry(invoice, self._chart(invoice.legal_entity),
                                      req.correlation_id)
        return InvoiceJournalResult(
            entry=entry, schedules=schedules_for_invoice(invoice, self._recognition))

    @activity.defn
    async def credit_memo_journal(self, req: CreditMemoJournalInput) -> JournalEntry:
        memo = req.credit_memo
        return posting.credit_memo_entry(memo, self._chart(memo.legal_entity), req.correlation_id,
                                         req.deferred_release)

    @activity.defn
    async def payment_journal(self, req: PaymentJournalInput) -> JournalEntry:
        p = req.payment
        return posting.payment_entry(p, self._chart(p.legal_entity), req.correlation_id)

    @activity.defn
    async def refund_journal(self, req: RefundJournalInput) -> JournalEntry:
        r = req.refund
        return posting.refund_entry(r, self._chart(r.legal_entity), req.correlation_id)

    @activity.defn
    async def write_off_journal(self, req: WriteOffJournalInput) -> JournalEntry:
        return posting.write_off_entry(req.invoice_id, req.amount, req.legal_entity,
                                       req.customer_id, req.posting_date,
                                       self._chart(req.legal_entity), req.correlation_id)
