"""Posting rules: pure functions from canonical documents to balanced journal entries.

Each rule follows the table in DESIGN.md "Accounting"; account codes come from the
legal entity's chart of accounts. The external id of each entry is the ERP
idempotency key, derived from the business document so a retry never posts twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from .accounts import AccountRole, ChartOfAccounts
from .billing import CreditMemo, Invoice, LineKind
from .errors import InvalidDataError
from .fx import convert, credited_functional, settling_relief, with_functional
from .ledger import JournalEntry, JournalLine, Side
from .money import Money, total
from .payment import Payment, Refund
from .revenue import RevenuePeriod, RevenueSchedule

R = AccountRole


def invoice_external_id(invoice_id: str) -> str:
    return f"inv:{invoice_id}"


def credit_memo_external_id(credit_memo_id: str) -> str:
    return f"cm:{credit_memo_id}"


def payment_external_id(payment_id: str) -> str:
    return f"pay:{payment_id}"


def refund_external_id(refund_id: str) -> str:
    return f"ref:{refund_id}"


def recognition_external_id(schedule_id: str, period: str) -> str:
    return f"rev:{schedule_id}:{period}"


def write_off_external_id(invoice_id: str) -> str:
    return f"wo:{invoice_id}"


def memo_release_external_id(credit_memo_id: str) -> str:
    return f"cmr:{credit_memo_id}"


def in_functional(entry: JournalEntry, coa: ChartOfAccounts, rate: Decimal | None,
                  fixed: Mapping[int, Money] | None = None,
                  difference_memo: str = "FX rounding") -> JournalEntry:
    """The entry with functional amounts when its currency is not the entity's.

    `fixed` pins functional amounts of some lines (by index) decided elsewhere; any
    difference goes to an explicit line on the FX gain/loss account (canonical.fx).
    """
    if entry.currency == coa.functional_currency:
        return entry
    if rate is None:
        raise InvalidDataError(f"{entry.external_id}: {entry.currency} entry for "
                               f"{coa.legal_entity} ({coa.functional_currency}) needs a rate",
                               system="rules")
    return with_functional(entry, coa.functional_currency, rate, coa.code(R.FX_GAIN_LOSS),
                           fixed, difference_memo)


def _line(coa: ChartOfAccounts, role: AccountRole, side: Side, amount: Money,
          customer_id: str | None = None, memo: str = "") -> JournalLine:
    return JournalLine(account=coa.code(role), side=side, amount=amount,
                       customer_id=customer_id, memo=memo)


def _nonzero(lines: list[JournalLine]) -> list[JournalLine]:
    return [line for line in lines if not line.amount.is_zero()]


def invoice_entry(invoice: Invoice, coa: ChartOfAccounts,
                  correlation_id: str | None = None, rate: Decimal | None = None
                  ) -> JournalEntry:
    """Dr AR (gross) / Cr Deferred Revenue (recurring, proration) / Cr Usage Revenue / Cr Tax.

    `rate` (functional per invoice currency unit, at the issue date) is required when
    the invoice is not in the entity's functional currency; it becomes the booking rate.
    """
    cur = invoice.currency
    usage = total((ln.amount for ln in invoice.lines if ln.kind == LineKind.USAGE), cur)
    cust = invoice.customer_id
    # One deferred revenue line per schedule (invoice line), so each schedule's total is
    # exactly its line's credit, in the transaction and the functional currency.
    deferred = [_line(coa, R.DEFERRED_REVENUE, Side.CREDIT, ln.amount, cust, ln.line_id)
                for ln in invoice.lines if ln.kind != LineKind.USAGE]
    lines = _nonzero([
        _line(coa, R.ACCOUNTS_RECEIVABLE, Side.DEBIT, invoice.total, cust),
        *deferred,
        _line(coa, R.USAGE_REVENUE, Side.CREDIT, usage, cust),
        _line(coa, R.TAX_PAYABLE, Side.CREDIT, invoice.tax_total, cust),
    ])
    return in_functional(JournalEntry(
        external_id=invoice_external_id(invoice.invoice_id), legal_entity=invoice.legal_entity,
        posting_date=invoice.issued_on, currency=cur, lines=lines,
        memo=f"Invoice {invoice.invoice_id}", source_type="invoice",
        source_id=invoice.invoice_id, correlation_id=correlation_id,
    ), coa, rate)


def credit_memo_entry(memo: CreditMemo, coa: ChartOfAccounts,
                      correlation_id: str | None = None,
                      deferred_release: Money | None = None, rate: Decimal | None = None,
                      deferred_release_functional: Money | None = None,
                      invoice_rates: Mapping[str, Decimal] | None = None,
                      settles: Mapping[str, Sequence[Decimal]] | None = None) -> JournalEntry:
    """Dr Deferred Revenue (unrecognised part) / Dr Tax Payable / Cr AR (gross).

    `deferred_release` is the unrecognised revenue the credited schedules released (the
    ERP's answer to their ScheduleEnd); None means the whole net credit was unrecognised.
    Where the credit exceeds it, the rest reverses revenue already recognised
    (Dr Subscription Revenue); where it falls short, the rest is recognised now
    (Cr Subscription Revenue), so deferred revenue always ties to the schedules.

    In a foreign currency the memo is booked at the credited invoice's booking rate
    (`rate`; per credited invoice from `invoice_rates` when its lines name several):
    receivables and tax payable are relieved as they were booked, the released deferral
    at `deferred_release_functional` (the functional amount the schedules gave up, at
    the rate they were deferred at) when the ERP reported it. What remains is rounding.
    """
    cust = memo.customer_id
    release = memo.subtotal if deferred_release is None else deferred_release
    difference = memo.subtotal - release
    revenue_side = Side.DEBIT if difference.amount > 0 else Side.CREDIT
    released_nothing = release.is_zero() and (deferred_release_functional is None
                                              or deferred_release_functional.is_zero())
    fx = (credited_functional(memo, rate, invoice_rates or {}, coa.functional_currency,
                              settles)
          if rate is not None and memo.currency != coa.functional_currency else None)
    release_f = deferred_release_functional
    if release_f is None and fx is not None and deferred_release is None:
        release_f = fx.net  # the whole net credit was deferred, at the invoices' rates
    pinned = [
        (_line(coa, R.DEFERRED_REVENUE, Side.DEBIT, release, cust), release_f),
        (_line(coa, R.SUBSCRIPTION_REVENUE, revenue_side, abs(difference), cust,
               "released deferral beyond the credit" if difference.amount < 0
               else "credited revenue; no deferral released" if released_nothing
               else "credited revenue already recognised"), None),
        (_line(coa, R.TAX_PAYABLE, Side.DEBIT, memo.tax_total, cust),
         fx.tax if fx is not None else None),
        (_line(coa, R.ACCOUNTS_RECEIVABLE, Side.CREDIT, memo.total, cust),
         fx.gross if fx is not None else None),
    ]
    # A release that rounds to nothing in the memo's currency can still be a cent of the
    # schedules' functional deferral: its line stays (zero amount, functional only), or
    # deferred revenue would keep a cent the schedules no longer hold.
    pinned = [(line, f) for line, f in pinned
              if not line.amount.is_zero() or (f is not None and not f.is_zero())]
    entry = JournalEntry(
        external_id=credit_memo_external_id(memo.credit_memo_id),
        legal_entity=memo.legal_entity, posting_date=memo.issued_on, currency=memo.currency,
        lines=[line for line, _ in pinned],
        memo=f"Credit memo {memo.credit_memo_id}: {memo.reason}",
        source_type="credit_memo", source_id=memo.credit_memo_id,
        correlation_id=correlation_id,
    )
    fixed = {i: f for i, (_, f) in enumerate(pinned) if f is not None}
    return in_functional(entry, coa, rate, fixed or None)


def payment_entry(payment: Payment, coa: ChartOfAccounts,
                  correlation_id: str | None = None, rate: Decimal | None = None,
                  invoice_rate: Decimal | None = None,
                  settles: Sequence[Decimal] | None = None) -> JournalEntry:
    """Dr Cash clearing / Cr AR; the gateway fee: Dr Payment Fees / Cr Cash clearing.

    In a foreign currency, cash and fee are converted at `rate` (the payment date's),
    receivables are relieved at `invoice_rate` (the invoice's booking rate), and the
    difference is the realised FX gain (Cr) or loss (Dr) on the FX gain/loss account.
    `settles`: the paid invoice's receivable movements when this payment settles it —
    the receivable is then relieved of exactly what is left of it in the functional
    currency (canonical.fx.settling_relief), rounding included.
    """
    cust = payment.customer_id
    lines = [
        _line(coa, R.CASH_CLEARING, Side.DEBIT, payment.amount, cust),
        _line(coa, R.ACCOUNTS_RECEIVABLE, Side.CREDIT, payment.amount, cust),
    ]
    if payment.fee is not None and not payment.fee.is_zero():
        lines += [
            _line(coa, R.PAYMENT_FEES, Side.DEBIT, payment.fee, cust, "gateway fee"),
            _line(coa, R.CASH_CLEARING, Side.CREDIT, payment.fee, cust, "gateway fee"),
        ]
    entry = JournalEntry(
        external_id=payment_external_id(payment.payment_id), legal_entity=payment.legal_entity,
        posting_date=payment.received_on, currency=payment.amount.currency, lines=lines,
        memo=f"Payment {payment.payment_id} for invoice {payment.invoice_id}",
        source_type="payment", source_id=payment.payment_id, correlation_id=correlation_id,
    )
    if entry.currency == coa.functional_currency or rate is None:
        return in_functional(entry, coa, rate)
    relieved = convert(payment.amount, invoice_rate or rate, coa.functional_currency)
    if settles is not None and invoice_rate is not None:
        relieved = settling_relief(relieved, settles, invoice_rate)
    return in_functional(entry, coa, rate, {1: relieved}, "realised FX difference")


def refund_entry(refund: Refund, coa: ChartOfAccounts,
                 correlation_id: str | None = None, rate: Decimal | None = None,
                 invoice_rate: Decimal | None = None) -> JournalEntry:
    """Dr AR / Cr Cash clearing.

    In a foreign currency, cash at the refund date's `rate`; the receivable the refund
    re-opens at `invoice_rate` (the refunded invoice's booking rate, the rate payments
    relieved it at), the difference a realised FX gain or loss — so a receivable settled
    in the invoice's currency is settled in the functional one too.
    """
    cust = refund.customer_id
    entry = JournalEntry(
        external_id=refund_external_id(refund.refund_id), legal_entity=refund.legal_entity,
        posting_date=refund.refunded_on, currency=refund.amount.currency,
        lines=[_line(coa, R.ACCOUNTS_RECEIVABLE, Side.DEBIT, refund.amount, cust),
               _line(coa, R.CASH_CLEARING, Side.CREDIT, refund.amount, cust)],
        memo=f"Refund {refund.refund_id} of payment {refund.payment_id}",
        source_type="refund", source_id=refund.refund_id, correlation_id=correlation_id,
    )
    if entry.currency == coa.functional_currency or rate is None or invoice_rate is None:
        return in_functional(entry, coa, rate)
    reopened = convert(refund.amount, invoice_rate, coa.functional_currency)
    return in_functional(entry, coa, rate, {0: reopened}, "realised FX difference")


def recognition_entry(schedule_id: str, period: str, amount: Money, legal_entity: str,
                      customer_id: str, posting_date: dt.date, coa: ChartOfAccounts,
                      correlation_id: str | None = None,
                      functional_amount: Money | None = None,
                      rate: Decimal | None = None) -> JournalEntry:
    """Dr Deferred Revenue / Cr Subscription Revenue for one period of a schedule.

    A foreign-currency schedule is recognised at its booking `rate`, with the period's
    `functional_amount` from the schedule, so deferred revenue ties in both currencies.
    """
    entry = JournalEntry(
        external_id=recognition_external_id(schedule_id, period), legal_entity=legal_entity,
        posting_date=posting_date, currency=amount.currency,
        lines=[_line(coa, R.DEFERRED_REVENUE, Side.DEBIT, amount, customer_id),
               _line(coa, R.SUBSCRIPTION_REVENUE, Side.CREDIT, amount, customer_id)],
        memo=f"Revenue {schedule_id} {period}", source_type="recognition",
        source_id=f"{schedule_id}:{period}", correlation_id=correlation_id,
    )
    fixed = ({0: functional_amount, 1: functional_amount}
             if functional_amount is not None else None)
    return in_functional(entry, coa, rate, fixed)


def period_recognition_entry(schedule: RevenueSchedule, period: RevenuePeriod,
                             coa: ChartOfAccounts, correlation_id: str | None = None
                             ) -> JournalEntry:
    """The recognition entry of one period, dated on the period's last day."""
    return recognition_entry(schedule.schedule_id, period.period, period.amount,
                             schedule.legal_entity, schedule.customer_id,
                             period.end - dt.timedelta(days=1), coa, correlation_id,
                             period.functional_amount, schedule.rate)


def write_off_entry(invoice_id: str, amount: Money, legal_entity: str, customer_id: str,
                    posting_date: dt.date, coa: ChartOfAccounts,
                    correlation_id: str | None = None, rate: Decimal | None = None,
                    settles: Sequence[Decimal] | None = None) -> JournalEntry:
    """Dr Bad Debt Expense / Cr AR for what dunning could not collect.

    In a foreign currency at `rate`, the invoice's booking rate (receivables are
    relieved at the rate they were booked at). `settles`: the receivable's movements —
    what is left of the functional receivable is then written off exactly, rounding
    included (canonical.fx.settling_relief).
    """
    entry = JournalEntry(
        external_id=write_off_external_id(invoice_id), legal_entity=legal_entity,
        posting_date=posting_date, currency=amount.currency,
        lines=[_line(coa, R.BAD_DEBT_EXPENSE, Side.DEBIT, amount, customer_id),
               _line(coa, R.ACCOUNTS_RECEIVABLE, Side.CREDIT, amount, customer_id)],
        memo=f"Write-off of invoice {invoice_id}", source_type="write_off",
        source_id=invoice_id, correlation_id=correlation_id,
    )
    if settles is None or rate is None or amount.currency == coa.functional_currency:
        return in_functional(entry, coa, rate)
    left = settling_relief(convert(amount, rate, coa.functional_currency), settles, rate)
    return in_functional(entry, coa, rate, {0: left, 1: left})


def memo_release_entry(credit_memo_id: str, released: Money, legal_entity: str,
                       customer_id: str, posting_date: dt.date, coa: ChartOfAccounts,
                       correlation_id: str | None = None, rate: Decimal | None = None,
                       released_functional: Money | None = None) -> JournalEntry:
    """Dr Deferred Revenue / Cr Subscription Revenue: the deferral an upstream-billed
    amendment's schedule ends released, when its credit memo was posted before them.

    Such a memo released nothing (no schedule had ended yet), so it reversed revenue;
    this moves what the schedules gave up from revenue to deferred revenue, leaving
    the books as if the memo had come after the amendment. In a foreign currency both
    lines carry `released_functional`, what the schedules held for it.

    A negative `released` is the other way (Dr Revenue / Cr Deferred Revenue): the memo
    was posted with a release larger than what the amendment, applied again behind a late
    one, released (`workflows/upstream_first.adjust_memo_release`).
    """
    back = released.amount < 0
    amount = -released if back else released
    functional = (-released_functional if back and released_functional is not None
                  else released_functional)
    debit, credit, note = ((R.SUBSCRIPTION_REVENUE, R.DEFERRED_REVENUE,
                            "deferral the credit memo released beyond its schedule ends")
                           if back else (R.DEFERRED_REVENUE, R.SUBSCRIPTION_REVENUE,
                                         "deferral released after the credit memo"))
    entry = JournalEntry(
        external_id=memo_release_external_id(credit_memo_id), legal_entity=legal_entity,
        posting_date=posting_date, currency=released.currency,
        lines=[_line(coa, debit, Side.DEBIT, amount, customer_id),
               _line(coa, credit, Side.CREDIT, amount, customer_id, note)],
        memo=f"Deferral released for credit memo {credit_memo_id}", source_type="credit_memo",
        source_id=credit_memo_id, correlation_id=correlation_id,
    )
    pinned = {0: functional, 1: functional} if functional else None
    return in_functional(entry, coa, rate, pinned)
