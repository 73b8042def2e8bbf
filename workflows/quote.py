"""The answer of `request_cancellation`: effective date and final invoice amount."""

from __future__ import annotations

import datetime as dt

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.money import Money
    from canonical.proration import unused_credit
    from canonical.subscription import ProrationBasis

from .postings import midnight
from .subscription_state import CancellationQuote, CancellationRequest, SubscriptionSnapshot


def quote_cancellation(snap: SubscriptionSnapshot, open_balance: Money,
                       req: CancellationRequest, today: dt.date) -> CancellationQuote:
    """Effective on the request's date, else the term end (or today, "immediately").

    The final invoice amount is what the customer owes now less, when prorated, the
    credit for the service after the effective date (days basis); negative means the
    customer is owed money.
    """
    sub = snap.subscription
    assert sub is not None
    on = req.effective_on or (sub.term_end if req.when == "end_of_term" else today)
    credit = Money.zero(sub.currency)
    if req.prorate:
        found = unused_credit(snap.lines, midnight(on), ProrationBasis.DAYS,
                              credit_memo_id=f"{sub.subscription_id}-cancel",
                              customer_id=sub.customer_id, subscription_id=sub.subscription_id,
                              legal_entity=sub.legal_entity, currency=sub.currency,
                              reason=req.reason)
        if found is not None and found.credit_memo is not None:
            credit = found.credit_memo.total
    return CancellationQuote(request_id=req.request_id, effective_on=on,
                             open_balance=open_balance, credit=credit,
                             final_invoice_amount=open_balance - credit)
