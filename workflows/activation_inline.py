"""Activation inside the entity: the common case without a child workflow.

Nearly every activation goes through at the first attempt (after its activities' own
retries), yet a child workflow per subscription costs the server a workflow start and
close, two workflow tasks, three child events in the entity and its visibility records.
So the entity runs ActivationFlow's steps itself — validate in CRM and grant
entitlements as local activities, the ERP customer record and contract in one ERP call —
and only when a step still fails after its retries does it start ActivationFlow. That
flow runs the steps again (each is idempotent: CRM validation reads, the ERP answers
"duplicate" for what landed and so marks it for compensation, grants are idempotent) and
owns everything a failure needs: compensation, parking, the operator's retry or skip.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.io import ValidateCustomerInput
    from adapters.erp.port import ContractPosting
    from canonical.customer import CustomerAccount
    from canonical.subscription import Subscription

from .activation import (
    ActivationResult,
    ActivationState,
    contract_external_id,
    customer_upsert,
    entitlements_of,
)
from .calls import Calls

# Histories recorded before it start ActivationFlow for every activation.
PATCH_INLINE_ACTIVATION = "activation-in-entity"


async def activate_inline(calls: Calls, customer: CustomerAccount, sub: Subscription,
                          correlation_id: str) -> ActivationResult | None:
    """ActivationFlow's first generation, run by the caller; None when a step failed
    for good (ActivationFlow then takes over from the start)."""
    cid = correlation_id
    refs: dict[str, str] = {"billing": sub.subscription_id}
    upsert = customer_upsert(customer)
    contract = ContractPosting(external_id=contract_external_id(sub), subscription=sub)
    try:
        validation = await calls.validate_customer(
            ValidateCustomerInput(customer=customer, correlation_id=cid))
        refs["crm"] = validation.crm_account_id
        receipts = await calls.post_grouped([upsert, contract], cid)
        customer_doc = receipts[upsert.external_id].document_id
        contract_doc = receipts[contract.external_id].document_id
        refs["erp_customer"], refs["erp_contract"] = customer_doc, contract_doc
        granted = await calls.grant(entitlements_of(customer, sub, cid))
        refs["provisioning"] = granted.subscription_id
    except (ActivityError, ApplicationError) as err:
        workflow.logger.info("activation step failed in the entity; ActivationFlow takes over",
                             extra={"error": str(err)})
        return None
    return ActivationResult(state=ActivationState.ACTIVE, crm_account_id=refs["crm"],
                            references=refs, documents=[customer_doc, contract_doc],
                            contract_external_id=contract.external_id)
