"""ActivationFlow's saga: a permanent failure at each step, and an operator's retry."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical.errors import RejectedError
from tests.unit.flows_harness import World, annual, parked_step, running, send, until
from workflows.activation import ActivationFlow
from workflows.flow import RetryInput


@pytest.mark.parametrize(("sub_id", "where", "state", "compensations"), [
    ("sub_v", "crm", "ValidatingCustomer", []),
    # The customer record and the contract go to the ERP in one activity, so a refused
    # customer also runs the contract's cancellation (a no-op: the contract never landed).
    ("sub_u", "customer", "Compensated", ["cancel ctr:sub_u:2026-01-01"]),
    ("sub_k", "contract", "Compensated", ["cancel ctr:sub_k:2026-01-01"]),
    ("sub_g", "grant", "Compensated", ["revoke entitlements", "cancel ctr:sub_g:2026-01-01"]),
])
async def test_permanent_failure_at_each_step_compensates_what_was_done(
        ts_env: WorkflowEnvironment, task_queue: str, sub_id: str, where: str, state: str,
        compensations: list[str]) -> None:
    world, life = World(), annual(sub_id, invoice=False)
    no = RejectedError("refused", system=where)
    if where == "crm":
        world.crm.fail_with = no
    elif where == "grant":
        world.provisioning.fail_with = no
    else:
        world.erp.fail_kinds[where] = no
    async with running(ts_env.client, task_queue, world) as config:
        await send(ts_env.client, config, life.events)
        flow = ts_env.client.get_workflow_handle(f"activation-{sub_id}")
        found = await parked_step(flow)
        audit = await flow.query(ActivationFlow.audit_trail)
        current = await flow.query(ActivationFlow.state)
    ran = [a.note.removeprefix("compensated: ") for a in audit
           if a.note.startswith("compensated: ")]
    assert (current, ran, found.reason) == (state, compensations, f"{where}.rejected")
    if where == "grant":
        assert world.erp.receipts[f"ctr:{sub_id}:2026-01-01"].status == "cancelled"


async def test_operator_retry_after_compensation_posts_a_new_generation(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_gen", invoice=False)
    world.provisioning.fail_with = RejectedError("refused", system="provisioning")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        flow = ts_env.client.get_workflow_handle("activation-sub_gen")
        await parked_step(flow)
        world.provisioning.fail_with = None
        await flow.signal(ActivationFlow.retry, RetryInput(operator="ops", note="fixed"))
        view = await until(handle, lambda v: v.state == "Active")
    assert world.erp.receipts["ctr:sub_gen:2026-01-01"].status == "cancelled"
    assert world.erp.receipts["ctr:sub_gen:2026-01-01~2"].status == "posted"
    assert view.references["provisioning"] == "sub_gen"
