"""A child flow's first report that lands in the same activation as its start (chaos drill).

The entity starts a background child (here the renewal) and, once the start resolves,
records it as "Started". Under load, or after a worker restart, the child's first
`child_progress` signal (its long wait) can arrive in the same workflow activation as the
start's resolution; signals are applied first, so the "Started" entry used to overwrite
the report, and the entity looked busy forever with no next action (found by
bench/chaos.py: the drill never settled). The interceptor below makes that interleaving
certain: the entity's code after the start resolves only once the child has reported.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import client as tc
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from devstack.streams import add_months
from tests.unit.flows_harness import World, annual, fresh_ts_env, running, send, until
from worker import WORKFLOWS, workflow_runner
from workflows.subscription_flows import PATCH_CHILD_REPORTED
from workflows.versions import VERSION_1


class _ReportFirst(WorkflowOutboundInterceptor):
    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        handle = await super().start_child_workflow(input)
        if input.workflow == "RenewalFlow":
            entity = workflow.instance()
            # what a shared activation does: the child's signal is handled first
            await workflow.wait_condition(lambda: input.id in entity._reported)
        return handle


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_ReportFirst(outbound))


class ReportBeforeStart(tc.Interceptor, Interceptor):
    """On the client so the workers built from it (flows_harness.running) take it."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


async def test_child_report_that_arrives_with_its_start_is_kept(
        env: WorkflowEnvironment, task_queue: str) -> None:
    # A term ending in 10 days: its renewal window is open, so the entity starts the
    # renewal at once (a later window is held by the entity, workflows/renewal_window.py)
    # and the renewal's first report is its wait for the new term's start.
    today = (await env.get_current_time()).date()
    world, life = World(), annual("sub_race", add_months(today, -12) + dt.timedelta(days=10))
    end = life.subscription.term_end
    window = dt.datetime.combine(end, dt.time(0), dt.UTC)
    racing_config = env.client.config()  # a copy
    racing_config["interceptors"] = [*racing_config["interceptors"], ReportBeforeStart()]
    racing = Client(**racing_config)
    async with running(racing, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, lambda v: v.events_applied == len(life.events)
                           and any(c.flow == "renewal" for c in v.children))
        [child] = view.children
        assert child.state == "WaitingForTermStart"
        assert child.waiting_until == window
        assert view.next_action_at == window
        assert not view.busy
        history = await handle.fetch_history()
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner(),
                        data_converter=env.client.data_converter,
                        interceptors=[ReportBeforeStart()])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    # started with this code's version: the fix applies without a patch marker
    assert PATCH_CHILD_REPORTED in VERSION_1 and config.code_version >= 1
    assert patch_ids(history.to_json()) == []


def patch_ids(history_json: str) -> list[str]:
    found = []
    for event in json.loads(history_json)["events"]:
        attrs = event.get("markerRecordedEventAttributes", {})
        if attrs.get("markerName") == "core_patch":
            found += [json.loads(base64.b64decode(p["data"]))["id"]
                      for p in attrs["details"]["patch-data"]["payloads"]]
    return found
