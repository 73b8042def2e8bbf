"""Activation in the entity: no child workflow when it goes through, ActivationFlow when not."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.unit.flows_harness import World, annual, running, send, until
from workflows.activation import ActivationFlow


async def test_a_smooth_activation_starts_no_child_workflow(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_in", invoice=False)
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, lambda v: v.state == "Active")
        with pytest.raises(RPCError) as missing:
            await ts_env.client.get_workflow_handle("activation-sub_in").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert view.references == {"billing": "sub_in", "crm": "CRM-cus_sub_in",
                               "erp_customer": view.references["erp_customer"],
                               "erp_contract": view.references["erp_contract"],
                               "provisioning": "sub_in"}
    assert world.erp.receipts["ctr:sub_in:2026-01-01"].status == "posted"
    assert world.crm.calls == ["cus_sub_in"]


async def test_activation_failing_after_its_retries_is_taken_over_by_activation_flow(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_to", invoice=False)
    world.crm.unavailable_first = 2  # both of the entity's attempts (activity_max_attempts)
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, lambda v: v.state == "Active")
        flow = ts_env.client.get_workflow_handle_for(ActivationFlow.run, "activation-sub_to")
        result = await flow.result()
        state = await flow.query(ActivationFlow.state)
    assert (state, result.state) == ("Active", "Active")
    assert world.crm.calls == ["cus_sub_to"] * 3  # two in the entity, one in the flow
    assert view.references["erp_contract"] == result.references["erp_contract"]
    assert world.erp.receipts["ctr:sub_to:2026-01-01"].status == "posted"
