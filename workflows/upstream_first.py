"""An amendment the billing system bills itself, applied after its own documents.

Its rebill and credit memo (`Amendment.documents_upstream`, e.g. Stripe's proration
invoice) normally come after it: the memo waits while the amendment is buffered, and
posts with what the amendment's schedule ends released (`SubscriptionSnapshot.releases`).
When they are applied first (Stripe delivered the invoice's webhook long before the
subscription update's), the books still end as if they had come second:

* the amendment credits the service it changes, not its own rebill, which is already
  among the entity's lines (`own_lines_excluded`);
* the memo released nothing (no schedule had ended), so it reversed revenue, as a
  service credit does; once the amendment has ended the schedules, what they released
  moves from revenue to deferred revenue (`cmr:{credit_memo_id}`, `release_after_memo`),
  one of the amendment's documents, so reversing the amendment reverses it too.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import MemoReleaseJournalInput
    from adapters.erp.port import JournalPosting
    from canonical.money import Money
    from canonical.posting import memo_release_external_id
    from canonical.proration import ServiceLine
    from canonical.subscription import Amendment

from . import versions
from .calls import Calls
from .flow import Skipped
from .saga import generation_id
from .subscription_state import DeferredRelease

if TYPE_CHECKING:
    from canonical.subscription import Subscription

    from .subscription import SubscriptionWorkflow

# Workflow patch: an upstream-billed amendment applied after its own documents.
PATCH_UPSTREAM_FIRST = "upstream-documents-before-amendment"
# Workflow patch: one applied again behind a late amendment adjusts its memo's release.
PATCH_MEMO_RELEASE_ADJUSTED = "upstream-memo-release-adjusted"


def own_lines_excluded(o: SubscriptionWorkflow, a: Amendment) -> list[ServiceLine]:
    """The entity's service lines the amendment credits: not its own rebill's."""
    lines = o._snap.lines
    own = [ln for ln in lines if a.documents_upstream and ln.invoice_id == a.invoice_id]
    if not own or not versions.patched(o._config, PATCH_UPSTREAM_FIRST):
        return lines
    return [ln for ln in lines if ln.invoice_id != a.invoice_id]


async def release_after_memo(o: SubscriptionWorkflow, a: Amendment, release: DeferredRelease,
                             credited_invoice: str | None, generation: int,
                             correlation_id: str) -> str | None:
    """Post the release when `a`'s memo was posted before anything was released (in an
    earlier generation too: that generation's release was reversed with it); its external
    id, if posted. A memo posted with an earlier generation's release: adjust_memo_release."""
    released = release.amount
    if (released is None or released.is_zero() or not release.released_nothing
            or not versions.patched(o._config, PATCH_UPSTREAM_FIRST)):
        return None
    return await _post_release(
        o, a, released, release.functional, credited_invoice, generation, correlation_id,
        f"credit memo {a.credit_memo_id} came before amendment {a.amendment_id}: the "
        f"{released} its schedules released moved from revenue to deferral")


async def adjust_memo_release(o: SubscriptionWorkflow, a: Amendment, release: DeferredRelease,
                              credited_invoice: str | None, generation: int,
                              correlation_id: str) -> str | None:
    """`a` applied again behind a late amendment (generation 2 on) ends other schedules
    than the memo's release was taken from: the memo, posted once, debited deferred
    revenue with the first generation's release, so the difference moves between deferred
    revenue and revenue (`cmr:{credit_memo_id}~{generation}`, one of `a`'s documents:
    reversed with it). Its external id, if posted."""
    posted, released = release.memo_posted, release.amount
    if (generation == 1 or posted is None or released is None or released == posted
            or not versions.patched(o._config, PATCH_MEMO_RELEASE_ADJUSTED)):
        return None
    functional = (release.functional - release.memo_posted_functional
                  if release.functional is not None
                  and release.memo_posted_functional is not None else None)
    return await _post_release(
        o, a, released - posted, functional, credited_invoice, generation, correlation_id,
        f"amendment {a.amendment_id} applied again released {released}, its credit memo "
        f"{a.credit_memo_id} {posted}: the difference moved")


async def _post_release(o: SubscriptionWorkflow, a: Amendment, released: Money,
                        functional: Money | None, credited_invoice: str | None,
                        generation: int, correlation_id: str, note: str) -> str | None:
    sub = cast("Subscription", o._snap.subscription)  # an amended entity has one
    view = o._invoices.get(credited_invoice or "")
    calls = Calls(o._config)
    journal = MemoReleaseJournalInput(
        credit_memo_id=a.credit_memo_id, released=released, released_functional=functional,
        legal_entity=sub.legal_entity, customer_id=sub.customer_id,
        posting_date=a.effective_at.astimezone(dt.UTC).date(),
        correlation_id=correlation_id, invoice_rate=view.rate if view else None)
    external_id = generation_id(memo_release_external_id(a.credit_memo_id), generation)

    async def post(_: object) -> list[str]:
        entry = await calls.memo_release_journal(journal)
        entry = entry.model_copy(update={"external_id": external_id})
        receipts = await calls.post_grouped(
            [JournalPosting(external_id=external_id, entry=entry)], correlation_id)
        return [r.document_id for r in receipts.values()]

    outcome = await o._step(f"post_release {a.credit_memo_id}", post)
    if isinstance(outcome, Skipped):
        return None
    o._record(str(o._state), documents=outcome, note=note)
    return external_id
