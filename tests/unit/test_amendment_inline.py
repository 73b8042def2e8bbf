"""Amendments in the entity: no child workflow when they go through, AmendmentFlow when not."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.unit.flows_harness import World, amend, annual, quiet, running, send, until
from tests.unit.test_amendment_flow import JUL_2
from workflows.amendment import AmendmentFlow


async def test_a_smooth_amendment_starts_no_child_workflow(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_ai")
    amend(life, 1, JUL_2, "2400.00")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(3))
        with pytest.raises(RPCError) as missing:
            await ts_env.client.get_workflow_handle("amendment-am_sub_ai_1").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    docs = world.erp.documents
    assert {"sche:in_sub_ai:in_sub_ai-1:am_sub_ai_1", "cm:cm_sub_ai_1",
            "inv:in_sub_ai_a1"} <= set(docs)
    assert [i.invoice_id for i in view.invoices] == ["in_sub_ai", "in_sub_ai_a1"]
    assert not world.erp.reversals


async def test_amendment_failing_after_its_retries_is_taken_over_by_amendment_flow(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_at")
    world.tax.unavailable["in_sub_at_a1"] = 2  # both of the entity's attempts
    amend(life, 1, JUL_2, "2400.00")
    async with running(ts_env.client, task_queue, world) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await until(handle, quiet(3))
        flow = ts_env.client.get_workflow_handle_for(AmendmentFlow.run, "amendment-am_sub_at_1")
        result = await flow.result()
    assert result.state == "Amended"
    assert world.tax.calls.count("in_sub_at_a1") == 3  # two in the entity, one in the flow
    # What the entity's attempt landed (the schedule end, the credit memo) the flow's run
    # was answered "duplicate" for: posted once, nothing reversed.
    assert world.erp.receipts["cm:cm_sub_at_1"].document_id in result.documents
    assert not world.erp.reversals
    assert [i.invoice_id for i in view.invoices] == ["in_sub_at", "in_sub_at_a1"]
