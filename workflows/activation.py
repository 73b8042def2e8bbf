"""ActivationFlow: bring a new subscription into every system of record."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import EntitlementInput, ErpDocumentInput, ValidateCustomerInput
    from adapters.erp.port import ContractPosting, CustomerUpsert, ErpReceipt
    from adapters.erp.routing import Domain
    from canonical.customer import CustomerAccount
    from canonical.subscription import Subscription

from . import search, versions
from .calls import PATCH_ONE_ERP_CALL, Calls
from .config import FlowConfig
from .flow import AuditRecord, Skipped
from .saga import Compensated, Compensations, SagaFlow, generation_id


class ActivationState(StrEnum):
    STARTED = "Started"
    VALIDATING_CUSTOMER = "ValidatingCustomer"
    UPSERTING_ERP_CUSTOMER = "UpsertingErpCustomer"
    POSTING_CONTRACT = "PostingContract"
    GRANTING_ENTITLEMENTS = "GrantingEntitlements"
    ACTIVE = "Active"
    SKIPPED = "Skipped"
    COMPENSATING = "Compensating"
    COMPENSATED = "Compensated"


S = ActivationState
TRANSITIONS: dict[ActivationState, frozenset[ActivationState]] = {
    S.STARTED: frozenset({S.VALIDATING_CUSTOMER}),
    S.VALIDATING_CUSTOMER: frozenset({S.UPSERTING_ERP_CUSTOMER, S.SKIPPED, S.COMPENSATING}),
    S.UPSERTING_ERP_CUSTOMER: frozenset({S.POSTING_CONTRACT, S.SKIPPED, S.COMPENSATING}),
    S.POSTING_CONTRACT: frozenset({S.GRANTING_ENTITLEMENTS, S.SKIPPED, S.COMPENSATING}),
    S.GRANTING_ENTITLEMENTS: frozenset({S.ACTIVE, S.SKIPPED, S.COMPENSATING}),
    S.COMPENSATING: frozenset({S.COMPENSATED}),
    # An operator's retry after compensation starts again (a new generation).
    S.COMPENSATED: frozenset({S.VALIDATING_CUSTOMER}),
}


class ActivationInput(BaseModel):
    customer: CustomerAccount
    subscription: Subscription
    event_id: str
    correlation_id: str
    config: FlowConfig


class ActivationResult(BaseModel):
    state: ActivationState
    crm_account_id: str | None = None
    # Cross-system correlation: system -> that system's id for this subscription or customer.
    references: dict[str, str] = {}
    documents: list[str] = []
    skipped_reason: str | None = None
    audit: list[AuditRecord] = []
    contract_external_id: str | None = None
    compensations: list[str] = []


def customer_external_id(customer_id: str) -> str:
    return f"cust:{customer_id}"


def customer_upsert(customer: CustomerAccount) -> CustomerUpsert:
    """The ERP customer master record an activation posts."""
    return CustomerUpsert(external_id=customer_external_id(customer.customer_id),
                          customer=customer)


def entitlements_of(customer: CustomerAccount, sub: Subscription,
                    correlation_id: str) -> EntitlementInput:
    """What an activation grants: every plan SKU of the subscription."""
    return EntitlementInput(subscription_id=sub.subscription_id,
                            customer_id=customer.customer_id,
                            skus=sorted({item.plan.sku for item in sub.items}),
                            correlation_id=correlation_id)


def contract_external_id(subscription: Subscription) -> str:
    return f"ctr:{subscription.subscription_id}:{subscription.term_start.isoformat()}"


@workflow.defn
class ActivationFlow(SagaFlow):
    """Validate in CRM, upsert the ERP customer, post the contract, grant entitlements.

    Compensations (saga): the contract is cancelled, the entitlements revoked; the
    ERP customer master record stays (it is harmless and other contracts may use it).
    """

    FLOW = "activation"
    TRANSITIONS = TRANSITIONS
    _state: ActivationState  # (set by Flow._init_flow and _transition)
    COMPENSATING = S.COMPENSATING
    COMPENSATED = S.COMPENSATED
    POSTING = {S.ACTIVE: search.PostingStatus.POSTED,
               S.COMPENSATED: search.PostingStatus.COMPENSATED}

    @workflow.init
    def __init__(self, input: ActivationInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)
        self._input = input

    @workflow.query
    def state(self) -> ActivationState:
        return self._state

    @workflow.run
    @search.flushed
    async def run(self, input: ActivationInput) -> ActivationResult:
        customer, sub, cid = input.customer, input.subscription, input.correlation_id
        self._upsert_started(customer.customer_id, sub, cid)
        outcome = await self._saga(self._attempt)
        if isinstance(outcome, Compensated):
            outcome = ActivationResult(
                state=S.COMPENSATED, compensations=outcome.compensations,
                skipped_reason=f"{outcome.reason} at {outcome.step}, compensated: "
                               f"{outcome.skipped_reason}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome.model_copy(update={"audit": list(self._audit)})

    async def _attempt(self, saga: Compensations, gen: int,
                       _corrected: dict[str, Any] | None) -> ActivationResult:
        input, calls = self._input, self._calls
        customer, sub, cid = input.customer, input.subscription, input.correlation_id
        refs: dict[str, str] = {"billing": sub.subscription_id}
        documents: list[str] = []

        self._transition(S.VALIDATING_CUSTOMER, event_id=input.event_id)
        validation = await self._step("validate_customer", lambda _: calls.validate_customer(
            ValidateCustomerInput(customer=customer, correlation_id=cid)), permanent="raise")
        if isinstance(validation, Skipped):
            return self._skipped(validation, refs)
        refs["crm"] = validation.crm_account_id

        self._transition(S.UPSERTING_ERP_CUSTOMER)
        upsert = customer_upsert(customer)
        if versions.patched(self._config, PATCH_ONE_ERP_CALL):
            return await self._post_together(saga, gen, refs, documents, upsert)
        receipts = await self._step("upsert_erp_customer", lambda _: calls.post(
            customer.legal_entity, Domain.CUSTOMER_MASTER, [upsert], cid), permanent="raise")
        if isinstance(receipts, Skipped):
            return self._skipped(receipts, refs)
        refs["erp_customer"] = receipts[0].document_id
        documents.append(receipts[0].document_id)

        self._transition(S.POSTING_CONTRACT, documents=[receipts[0].document_id])
        contract = self._contract(saga, gen)
        contract_id = contract.external_id

        async def post_contract(_: Any) -> list[ErpReceipt]:
            receipts = await calls.post(sub.legal_entity, Domain.RECEIVABLES, [contract], cid)
            saga.landed.update(r.external_id for r in receipts)
            return receipts

        receipts = await self._step("post_contract", post_contract, permanent="raise")
        if isinstance(receipts, Skipped):
            return self._skipped(receipts, refs)
        refs["erp_contract"] = receipts[0].document_id
        documents.append(receipts[0].document_id)

        return await self._grant(saga, refs, documents, contract_id,
                                 receipts[0].document_id)

    async def _grant(self, saga: Compensations, refs: dict[str, str], documents: list[str],
                     contract_id: str, contract_doc: str) -> ActivationResult:
        input, calls = self._input, self._calls
        customer, sub, cid = input.customer, input.subscription, input.correlation_id
        self._transition(S.GRANTING_ENTITLEMENTS, documents=[contract_doc])
        entitlement = entitlements_of(customer, sub, cid)
        saga.push("revoke entitlements", lambda: calls.revoke(entitlement))
        granted = await self._step("grant_entitlements", lambda _: calls.grant(entitlement),
                                   permanent="raise")
        if isinstance(granted, Skipped):
            return self._skipped(granted, refs)
        refs["provisioning"] = granted.subscription_id

        self._transition(S.ACTIVE, note=f"references {refs}")
        self._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.POSTED),
                     search.ERP_DOCUMENT_IDS.value_set(documents))
        return ActivationResult(state=S.ACTIVE, crm_account_id=refs.get("crm"),
                                references=refs, documents=documents,
                                contract_external_id=contract_id)

    async def _post_together(self, saga: Compensations, gen: int, refs: dict[str, str],
                             documents: list[str], upsert: CustomerUpsert) -> ActivationResult:
        """The customer record and the contract in one ERP activity (customer first).

        The same documents, compensations and visible states as posting them one by
        one, with one task-queue round trip fewer per activation.
        """
        calls, cid = self._calls, self._input.correlation_id
        contract = self._contract(saga, gen)
        contract_id = contract.external_id

        async def post_both(_: Any) -> dict[str, ErpReceipt]:
            receipts = await calls.post_grouped([upsert, contract], cid)
            saga.landed.update(receipts)
            return receipts

        receipts = await self._step("upsert_erp_customer_and_post_contract", post_both,
                                    permanent="raise")
        if isinstance(receipts, Skipped):
            return self._skipped(receipts, refs)
        customer_doc = receipts[upsert.external_id].document_id
        contract_doc = receipts[contract_id].document_id
        refs["erp_customer"], refs["erp_contract"] = customer_doc, contract_doc
        documents += [customer_doc, contract_doc]
        self._transition(S.POSTING_CONTRACT, documents=[customer_doc])
        return await self._grant(saga, refs, documents, contract_id, contract_doc)

    def _contract(self, saga: Compensations, gen: int) -> ContractPosting:
        """This generation's contract, its cancellation registered before it is posted."""
        sub, cid, calls = self._input.subscription, self._input.correlation_id, self._calls
        contract_id = generation_id(contract_external_id(sub), gen)
        saga.push(f"cancel {contract_id}", lambda: calls.cancel_contract(ErpDocumentInput(
            legal_entity=sub.legal_entity, domain=Domain.RECEIVABLES, external_id=contract_id,
            reason="activation compensated", correlation_id=cid)), contract_id)
        return ContractPosting(external_id=contract_id, subscription=sub)

    def _skipped(self, outcome: Skipped, refs: dict[str, str]) -> ActivationResult:
        self._transition(S.SKIPPED, note=outcome.reason)
        return ActivationResult(state=S.SKIPPED, references=refs,
                                skipped_reason=outcome.reason)
