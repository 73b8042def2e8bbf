"""Activity calls as workflows make them: queues, timeouts and retry policy in one place."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities, CloseUpstreamInput
    from activities.crm import CrmActivities, RenewalTermsInput, SendNoticeInput
    from activities.erp import ErpActivities
    from activities.io import (
        CalculateTaxInput,
        CreditMemoJournalInput,
        EntitlementInput,
        ErpDocumentInput,
        InvoiceJournalInput,
        InvoiceJournalResult,
        MemoReleaseJournalInput,
        PaymentJournalInput,
        PostRoutedInput,
        PostToErpInput,
        RefundJournalInput,
        ReverseErpDocumentInput,
        RoutedPostings,
        ValidateCustomerInput,
        WriteOffJournalInput,
    )
    from activities.payments import CollectPaymentInput, PaymentsActivities
    from activities.proration import (
        ProrateAmendmentInput,
        ProrationActivities,
        RenewalTermInput,
        RenewalTermResult,
    )
    from activities.provisioning import ProvisioningActivities
    from activities.rules import RulesActivities
    from activities.tax import TaxActivities
    from adapters.billing.port import UpstreamClose
    from adapters.crm.port import CustomerNotice, CustomerValidation
    from adapters.erp.port import ErpReceipt, Posting
    from adapters.erp.routing import Domain
    from adapters.payments.port import CollectionResult
    from adapters.provisioning.port import Entitlements
    from canonical.billing import TaxResult
    from canonical.ledger import JournalEntry
    from canonical.proration import AmendmentProration
    from canonical.renewal import RenewalTerms

from . import search, versions
from .config import CALL_TIMEOUT, RULES_TIMEOUT, FlowConfig

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import TypeVar

    _In = TypeVar("_In")
    _Out = TypeVar("_Out")

# Cheap request/response calls (CRM, tax, provisioning) run as local activities: same
# retries and at-least-once semantics, but no task-queue round trip through the server
# (TEMPORAL-NOTES: ~2x the steps/s). Payments stay normal activities (long, and must
# be visible and individually retried); ERP calls try locally first, then their queue.
PATCH_LOCAL_CALLS = "perf-local-calls"
# post_grouped makes one ERP activity for all its (entity, domain) groups, in order.
PATCH_ONE_ERP_CALL = "perf-one-erp-call"
# ERP calls try a local activity first (see Calls._erp).
PATCH_ERP_LOCAL_FIRST = "perf-erp-local-first"

# The local try of an ERP call: a few quick attempts, bounded as a whole. Long enough
# for a call that waits its turn in the ERP batcher during an invoice run.
ERP_LOCAL_ATTEMPTS = 3
ERP_LOCAL_BUDGET = timedelta(seconds=90)


def domain_of(posting: Posting) -> Domain:
    """Which ERP domain a posting belongs to, for routing."""
    if posting.kind == "customer":
        return Domain.CUSTOMER_MASTER
    if posting.kind in ("schedule", "schedule_end") or (
        posting.kind == "journal" and posting.entry.source_type == "recognition"
    ):
        return Domain.REVENUE
    return Domain.RECEIVABLES


def legal_entity_of(posting: Posting) -> str:
    if posting.kind == "customer":
        return posting.customer.legal_entity
    if posting.kind == "contract":
        return posting.subscription.legal_entity
    if posting.kind == "schedule":
        return posting.schedule.legal_entity
    if posting.kind == "schedule_end":
        return posting.legal_entity
    return posting.entry.legal_entity


class Calls:
    """Bound to one flow's config; every method is one activity (or local activity)."""

    def __init__(self, config: FlowConfig) -> None:
        self._config = config
        self._retry = config.retry_policy()

    def _opts(self, **extra: Any) -> dict[str, Any]:
        return {"start_to_close_timeout": CALL_TIMEOUT, "retry_policy": self._retry, **extra}

    def local_opts(self) -> dict[str, Any]:
        return {"start_to_close_timeout": RULES_TIMEOUT, "retry_policy": self._retry}

    async def _call(self, method: Callable[[Any, _In], Awaitable[_Out]], req: _In) -> _Out:
        """A cheap remote call: local activity in new histories, activity in old ones."""
        if versions.patched(self._config, PATCH_LOCAL_CALLS):
            return await self._local(method, req, **self._opts())
        return await workflow.execute_activity_method(method, req, **self._opts())

    async def _local(self, method: Callable[[Any, _In], Awaitable[_Out]], req: _In,
                     **opts: Any) -> _Out:
        with search.local_activity():
            return await workflow.execute_local_activity_method(method, req, **opts)

    async def validate_customer(self, req: ValidateCustomerInput) -> CustomerValidation:
        return await self._call(CrmActivities.validate_customer, req)

    async def calculate_tax(self, req: CalculateTaxInput) -> TaxResult:
        return await self._call(TaxActivities.calculate_tax, req)

    async def _erp(self, method: Callable[[Any, _In], Awaitable[_Out]], req: _In) -> _Out:
        """An ERP call: first as a local activity, then as an activity on the ERP queue.

        Nearly every ERP call goes through at its first attempt, and as a local activity
        it costs the server no task-queue round trip (three history events and a
        workflow task fewer per call; the worker's ERP batcher still coalesces and paces
        it, being the same object). One that still fails after a few quick attempts (an
        ERP that is down, a refusal) goes to the ERP queue as before: there its retries
        show as a pending activity, and it parks after them. Calls are idempotent by
        external id, so a local attempt that landed is answered as a duplicate.
        """
        if versions.patched(self._config, PATCH_ERP_LOCAL_FIRST):
            try:
                return await self._local(
                    method, req, start_to_close_timeout=CALL_TIMEOUT,
                    schedule_to_close_timeout=ERP_LOCAL_BUDGET,
                    retry_policy=RetryPolicy(initial_interval=self._retry.initial_interval,
                                             maximum_attempts=ERP_LOCAL_ATTEMPTS))
            except (ActivityError, ApplicationError, TemporalTimeout) as err:
                # (a local activity's final failure may surface as its cause itself)
                workflow.logger.info("local ERP call failed; the ERP queue takes it",
                                     extra={"error": str(err)})
        return await workflow.execute_activity_method(
            method, req, **self._opts(task_queue=self._config.erp_task_queue))

    async def post(self, legal_entity: str, domain: Domain, postings: list[Posting],
                   correlation_id: str) -> list[ErpReceipt]:
        return await self._erp(
            ErpActivities.post_to_erp,
            PostToErpInput(legal_entity=legal_entity, domain=domain, postings=postings,
                           correlation_id=correlation_id))

    async def post_grouped(self, postings: list[Posting], correlation_id: str
                           ) -> dict[str, ErpReceipt]:
        """Post to every ERP the postings route to, one call per (entity, domain).

        Groups go one after another in first-appearance order, so an invoice is in
        its ERP before the payment that applies to it. Returns receipts by external id.
        """
        groups: dict[tuple[str, Domain], list[Posting]] = defaultdict(list)
        for p in postings:
            groups[(legal_entity_of(p), domain_of(p))].append(p)
        receipts: dict[str, ErpReceipt] = {}
        if len(groups) > 1 and versions.patched(self._config, PATCH_ONE_ERP_CALL):
            routed = [RoutedPostings(legal_entity=entity, domain=domain, postings=group)
                      for (entity, domain), group in groups.items()]
            return {r.external_id: r for r in await self._erp(
                ErpActivities.post_routed,
                PostRoutedInput(groups=routed, correlation_id=correlation_id))}
        for (entity, domain), group in groups.items():
            for receipt in await self.post(entity, domain, group, correlation_id):
                receipts[receipt.external_id] = receipt
        return receipts

    async def reverse(self, req: ReverseErpDocumentInput) -> ErpReceipt:
        return await self._erp(ErpActivities.reverse_erp_document, req)

    async def cancel_contract(self, req: ErpDocumentInput) -> ErpReceipt:
        return await self._erp(ErpActivities.cancel_erp_contract, req)

    async def get_receipt(self, req: ErpDocumentInput) -> ErpReceipt:
        return await self._erp(ErpActivities.get_erp_receipt, req)

    async def grant(self, req: EntitlementInput) -> Entitlements:
        return await self._call(ProvisioningActivities.grant_entitlements, req)

    async def suspend(self, req: EntitlementInput) -> Entitlements:
        return await self._call(ProvisioningActivities.suspend_entitlements, req)

    async def restore(self, req: EntitlementInput) -> Entitlements:
        return await self._call(ProvisioningActivities.restore_entitlements, req)

    async def revoke(self, req: EntitlementInput) -> Entitlements:
        return await self._call(ProvisioningActivities.revoke_entitlements, req)

    async def invoice_journal(self, req: InvoiceJournalInput) -> InvoiceJournalResult:
        return await self._local(RulesActivities.invoice_journal, req, **self.local_opts())

    async def payment_journal(self, req: PaymentJournalInput) -> JournalEntry:
        return await self._local(RulesActivities.payment_journal, req, **self.local_opts())

    async def credit_memo_journal(self, req: CreditMemoJournalInput) -> JournalEntry:
        return await self._local(RulesActivities.credit_memo_journal, req, **self.local_opts())

    async def refund_journal(self, req: RefundJournalInput) -> JournalEntry:
        return await self._local(RulesActivities.refund_journal, req, **self.local_opts())

    async def write_off_journal(self, req: WriteOffJournalInput) -> JournalEntry:
        return await self._local(RulesActivities.write_off_journal, req, **self.local_opts())

    async def memo_release_journal(self, req: MemoReleaseJournalInput) -> JournalEntry:
        return await self._local(RulesActivities.memo_release_journal, req,
                                 **self.local_opts())

    # --- order-to-cash flows (amendment, renewal, dunning, cancellation) ------------------

    async def prorate_amendment(self, req: ProrateAmendmentInput) -> AmendmentProration:
        return await self._local(ProrationActivities.prorate_amendment, req, **self.local_opts())

    async def renewal_term(self, req: RenewalTermInput) -> RenewalTermResult:
        return await self._local(ProrationActivities.renewal_term, req, **self.local_opts())

    async def renewal_terms(self, req: RenewalTermsInput) -> RenewalTerms:
        return await self._call(CrmActivities.renewal_terms, req)

    async def send_notice(self, req: SendNoticeInput) -> CustomerNotice:
        return await self._call(CrmActivities.send_notice, req)

    async def close_unpaid_upstream(self, req: CloseUpstreamInput) -> UpstreamClose:
        return await self._call(BillingActivities.close_unpaid_upstream, req)

    async def collect_payment(self, req: CollectPaymentInput) -> CollectionResult:
        return await workflow.execute_activity_method(
            PaymentsActivities.collect_payment, req, **self._opts())
