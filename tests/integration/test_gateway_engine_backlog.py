"""The forwarder holds a burst in the inbox while the engine's workflow tasks queue up.

The entity queue here has no worker: every started entity leaves a workflow task waiting,
so the engine only falls behind, and the server's statistics (cached for a few seconds)
must show it before the gate closes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gateway.engine_backlog import EngineBacklog, Reading, workflow_task_stats
from gateway.forwarder import Forwarder
from tests.integration.gateway_harness import (
    config,
    eventually,
    running_gateway,
    signalled_event_ids,
)
from tests.integration.test_gateway_inbox import pending, scenario
from workflows.config import FlowConfig


async def test_the_forwarder_waits_for_the_engine_then_delivers_in_order(
        tmp_path: Path, dev_env: WorkflowEnvironment) -> None:
    events = scenario(6)  # 42 events of 6 subscriptions, 7 each, each subscription's together
    async with running_gateway(config(tmp_path)) as gw:  # Temporal away: it queues
        assert (await gw.post_events(events)).status_code == 202
        engine = gw.gw.engine
        queue = f"unpolled-{uuid.uuid4().hex[:8]}"

        async def connect() -> Client:
            return dev_env.client

        gate = EngineBacklog(queue, limit=1, refresh_s=0.0)  # a reading before every drain
        forwarder = Forwarder(engine, connect, FlowConfig(task_queue=queue), batch=50,
                              max_hold_s=0.0, engine_backlog=gate)
        assert await forwarder.drain_once() == 1  # a budget of one row: one signal
        assert forwarder.signals_total == 1

        async def engine_reports_it() -> bool:
            return (await workflow_task_stats(dev_env.client, queue)).backlog >= 1

        await eventually(engine_reports_it)
        for _ in range(5):
            assert await forwarder.drain_once() == 0
        assert forwarder.signals_total == 1 and gate.held_rounds >= 5
        assert await asyncio.to_thread(pending, engine) == len(events) - 1

        gate.limit = 0  # the engine caught up (here: the gate lifted)
        while await asyncio.to_thread(pending, engine):
            await forwarder.drain_once()
    assert forwarder.forwarded_total == len(events)
    for n in range(6):
        sub = events[n * 7]["keys"]["subscription_id"]
        assert await signalled_event_ids(dev_env.client, sub) == [
            e["event_id"] for e in events[n * 7:(n + 1) * 7]]


async def test_the_backlog_endpoint_shows_the_gate(tmp_path: Path) -> None:
    async with running_gateway(config(tmp_path, max_engine_backlog=250)) as gw:
        body = (await gw.http.get("/v1/backlog")).json()
        assert body["engine_backlog_limit"] == 250
        assert body["engine_backlog"] is None  # Temporal away: nothing read yet
        gate = gw.gw.forwarder.engine_backlog
        assert gate is not None
        gate.last_reading = Reading(42, 3.0)
        assert (await gw.http.get("/v1/backlog")).json()["engine_backlog"] == 42
        metrics = (await gw.http.get("/metrics")).text
        assert "cashloop_gateway_engine_backlog_tasks 42" in metrics
    async with running_gateway(config(tmp_path / "off")) as gw:
        assert (await gw.http.get("/v1/backlog")).json()["engine_backlog_limit"] == 0
