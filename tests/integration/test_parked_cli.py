"""`starter.py parked`: find parked flows by visibility query and release them in bulk."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from temporalio.client import Client

from cli.parked import ParkedFlow, parked_flows, release
from cli.send import deliver
from devstack import streams
from starter import parser
from tests.integration.stack import Engine, running_engine
from workflows.flow import RetryInput, SkipInput
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id


async def wait_parked(engine: Engine, query: str, count: int) -> list[ParkedFlow]:
    for _ in range(900):
        flows = await parked_flows(engine.client, query)
        if len(flows) >= count:
            return flows
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} parked flows for {query}")


async def state_of(engine: Engine, sub_id: str, want: str) -> str:
    handle = engine.client.get_workflow_handle(entity_workflow_id(sub_id))
    for _ in range(900):
        view = await handle.query(SubscriptionWorkflow.state)
        if view.state == want:
            return view.state
        await asyncio.sleep(0.1)
    return view.state


async def test_blocked_customers_park_and_are_released_in_bulk(dev_client: Client,
                                                               tmp_path: Path) -> None:
    lives = [streams.lifecycle(f"sub_dlq_{n}", streams.customer(f"cus_dlq_{n}", "US"),
                               dt.date(2026, 1, 1)) for n in range(3)]
    for life in lives:
        life.activate()
    async with running_engine(dev_client, tmp_path, renewals_enabled=False) as engine:
        for life in lives:
            await engine.crm.update_account(life.customer.customer_id, correlation_id="t",
                                            blocked=True)
        await deliver(dev_client, [e for life in lives for e in life.events],
                      engine.config)
        query = "CustomerId IN ('cus_dlq_0', 'cus_dlq_1', 'cus_dlq_2')"
        flows = await wait_parked(engine, query, 3)
        assert {(f.workflow_type, f.step.step, f.step.reason) for f in flows} == {
            ("ActivationFlow", "validate_customer", "crm.rejected")}

        for n in (0, 1):  # CRM fixed for two customers: retry them with one query
            await engine.crm.update_account(f"cus_dlq_{n}", correlation_id="t", blocked=False)
        retried = await release(engine.client, await parked_flows(
            engine.client, "CustomerId IN ('cus_dlq_0', 'cus_dlq_1')"),
            RetryInput(operator="ops", note="unblocked in CRM"))
        skipped = await release(engine.client, await parked_flows(
            engine.client, "CustomerId = 'cus_dlq_2'"), SkipInput(operator="ops",
                                                                   reason="customer gone"))
        states = [await state_of(engine, f"sub_dlq_{n}", want) for n, want in
                  enumerate(["Active", "Active", "ActivationSkipped"])]
    assert sorted(retried) == ["activation-sub_dlq_0", "activation-sub_dlq_1"]
    assert skipped == ["activation-sub_dlq_2"]
    assert states == ["Active", "Active", "ActivationSkipped"]


def test_cli_parses_bulk_release_commands() -> None:
    args = parser().parse_args(["parked", "retry", "--query", "O2CFlow = 'amendment'",
                                "--corrected", '{"invoice_id": "in_9"}'])
    assert (args.action, args.corrected) == ("retry", {"invoice_id": "in_9"})
    args = parser().parse_args(["parked", "skip", "--query", "x", "--reason", "dup"])
    assert (args.action, args.reason) == ("skip", "dup")
