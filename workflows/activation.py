"""ActivationFlow: bring a new subscription into every system of record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.io import EntitlementInput, ValidateCustomerInput
    from adapters.erp.port import ContractPosting, CustomerUpsert
    from adapters.erp.routing import Domain
    from canonical.customer import CustomerAccount
    from canonical.subscription import Subscription

from . import search
from .calls import Calls
from .config import FlowConfig
from .flow import AuditRecord, Flow, Skipped


class ActivationState(StrEnum):
    STARTED = "Started"
    VALIDATING_CUSTOMER = "ValidatingCustomer"
    UPSERTING_ERP_CUSTOMER = "UpsertingErpCustomer"
    POSTING_CONTRACT = "PostingContract"
    GRANTING_ENTITLEMENTS = "GrantingEntitlements"
    ACTIVE = "Active"
    SKIPPED = "Skipped"


S = ActivationState
TRANSITIONS: dict[ActivationState, frozenset[ActivationState]] = {
    S.STARTED: frozenset({S.VALIDATING_CUSTOMER}),
    S.VALIDATING_CUSTOMER: frozenset({S.UPSERTING_ERP_CUSTOMER, S.SKIPPED}),
    S.UPSERTING_ERP_CUSTOMER: frozenset({S.POSTING_CONTRACT, S.SKIPPED}),
    S.POSTING_CONTRACT: frozenset({S.GRANTING_ENTITLEMENTS, S.SKIPPED}),
    S.GRANTING_ENTITLEMENTS: frozenset({S.ACTIVE, S.SKIPPED}),
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


def customer_external_id(customer_id: str) -> str:
    return f"cust:{customer_id}"


def contract_external_id(subscription: Subscription) -> str:
    return f"ctr:{subscription.subscription_id}:{subscription.term_start.isoformat()}"


@workflow.defn
class ActivationFlow(Flow):
    FLOW = "activation"
    TRANSITIONS = TRANSITIONS

    @workflow.init
    def __init__(self, input: ActivationInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)

    @workflow.query
    def state(self) -> ActivationState:
        return self._state

    @workflow.run
    async def run(self, input: ActivationInput) -> ActivationResult:
        customer, sub, cid = input.customer, input.subscription, input.correlation_id
        search.upsert(input.config.search_attributes,
                      search.O2C_FLOW.value_set(self.FLOW),
                      search.CUSTOMER_ID.value_set(customer.customer_id),
                      search.SUBSCRIPTION_ID.value_set(sub.subscription_id),
                      search.LEGAL_ENTITY.value_set(sub.legal_entity),
                      search.CORRELATION_ID.value_set(cid),
                      search.POSTING_STATUS.value_set(search.PostingStatus.PENDING))
        result = ActivationResult(state=S.STARTED)
        refs: dict[str, str] = {"billing": sub.subscription_id}
        documents: list[str] = []

        def skipped(outcome: Skipped) -> ActivationResult:
            self._transition(S.SKIPPED, note=outcome.reason)
            return result.model_copy(update={"state": S.SKIPPED, "references": refs,
                                             "skipped_reason": outcome.reason,
                                             "audit": list(self._audit)})

        self._transition(S.VALIDATING_CUSTOMER, event_id=input.event_id)
        validation = await self._step("validate_customer", lambda _: self._calls.validate_customer(
            ValidateCustomerInput(customer=customer, correlation_id=cid)))
        if isinstance(validation, Skipped):
            return skipped(validation)
        refs["crm"] = validation.crm_account_id

        self._transition(S.UPSERTING_ERP_CUSTOMER)
        upsert = CustomerUpsert(external_id=customer_external_id(customer.customer_id),
                                customer=customer)
        receipts = await self._step("upsert_erp_customer", lambda _: self._calls.post(
            customer.legal_entity, Domain.CUSTOMER_MASTER, [upsert], cid))
        if isinstance(receipts, Skipped):
            return skipped(receipts)
        refs["erp_customer"] = receipts[0].document_id
        documents.append(receipts[0].document_id)

        self._transition(S.POSTING_CONTRACT, documents=[receipts[0].document_id])
        contract = ContractPosting(external_id=contract_external_id(sub), subscription=sub)
        receipts = await self._step("post_contract", lambda _: self._calls.post(
            sub.legal_entity, Domain.RECEIVABLES, [contract], cid))
        if isinstance(receipts, Skipped):
            return skipped(receipts)
        refs["erp_contract"] = receipts[0].document_id
        documents.append(receipts[0].document_id)

        self._transition(S.GRANTING_ENTITLEMENTS, documents=[receipts[0].document_id])
        skus = sorted({item.plan.sku for item in sub.items})
        granted = await self._step("grant_entitlements", lambda _: self._calls.grant(
            EntitlementInput(subscription_id=sub.subscription_id,
                             customer_id=customer.customer_id, skus=skus, correlation_id=cid)))
        if isinstance(granted, Skipped):
            return skipped(granted)
        refs["provisioning"] = granted.subscription_id

        self._transition(S.ACTIVE, note=f"references {refs}")
        search.upsert(input.config.search_attributes,
                      search.POSTING_STATUS.value_set(search.PostingStatus.POSTED),
                      search.ERP_DOCUMENT_IDS.value_set(documents))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ActivationResult(state=S.ACTIVE, crm_account_id=validation.crm_account_id,
                                references=refs, documents=documents, audit=list(self._audit))
