"""Waiting until a stack has done everything a stream asked of it (benchmarks and drills)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from cli.status import subscription_views
from devstack import stack
from devstack.demo import settled
from settings import ERP_TARGETS, Settings
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionView

QUERY_GROUP = 200  # queries in flight at once


@dataclass
class Settled:
    views: dict[str, SubscriptionView] = field(default_factory=dict)
    parked: list[str] = field(default_factory=list)
    # why each parked subscription is parked: "<workflow> at <step>: <reason>: <message>"
    parked_why: dict[str, str] = field(default_factory=dict)

    def findings(self) -> dict[str, int]:
        """How often each kind of finding was recorded (SequenceGap, LateEvent, ...)."""
        return dict(Counter(f.kind for v in self.views.values() for f in v.findings))


async def gateway_backlog(settings: Settings) -> int:
    """Events the gateway has accepted but not yet forwarded to Temporal."""
    async with httpx.AsyncClient(base_url=stack.gateway_url(settings), timeout=30) as http:
        return int((await http.get("/v1/backlog")).raise_for_status().json()["pending"])


async def erp_postings(settings: Settings) -> int:
    """Documents the ERP sandboxes have created so far (their counters; cheap to read)."""
    total = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for name in ERP_TARGETS:
            stats = (await http.get(f"{settings.sandbox_url(name)}/_admin/stats")).json()
            total += int(stats["postings_created"])
    return total


async def await_settled(settings: Settings, client: Client, expected: Mapping[str, int],
                        limit_s: float, poll_s: float = 3.0) -> Settled:
    """Poll until the gateway has forwarded everything and every subscription has applied
    its `expected` events with nothing in hand; a parked one stops being waited for (it
    waits for an operator) and is listed. Raises TimeoutError after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while await gateway_backlog(settings):
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway never forwarded its backlog")
        await asyncio.sleep(poll_s)
    result = Settled()
    pending = set(expected)
    while pending:
        # Queries cost workflow tasks; ask only once the ERPs have stopped receiving.
        await erp_quiet(settings, poll_s, deadline)
        ids = sorted(pending)
        for i in range(0, len(ids), QUERY_GROUP):
            for v in await subscription_views(client, ids[i:i + QUERY_GROUP]):
                result.views[v.subscription_id] = v
                if settled(v, expected[v.subscription_id]):
                    pending.discard(v.subscription_id)
                elif v.parked:
                    pending.discard(v.subscription_id)
                    result.parked.append(v.subscription_id)
                    result.parked_why[v.subscription_id] = await why_parked(client, v)
        if pending and time.monotonic() > deadline:
            sample = [result.views.get(s) for s in sorted(pending)[:3]]
            raise TimeoutError(f"{len(pending)} subscriptions did not settle, e.g. "
                               + "; ".join(_brief(v) for v in sample if v) or str(pending))
        if pending:
            await asyncio.sleep(poll_s)
    return result


async def why_parked(client: Client, view: SubscriptionView) -> str:
    """Where the subscription's flows are parked and why (their `parked` queries)."""
    ids = [entity_workflow_id(view.subscription_id)] + [c.workflow_id for c in view.children
                                                        if c.parked]
    found = []
    for workflow_id in ids:
        try:
            # (a query method's result type comes from its annotation)
            step = await client.get_workflow_handle(workflow_id).query(
                SubscriptionWorkflow.parked)
        except RPCError as err:
            found.append(f"{workflow_id}: not queryable ({err.message})")
            continue
        if step is not None:
            found.append(f"{workflow_id} at {step.step}: {step.reason}: {step.message[:200]}")
    return "; ".join(found) or "no parked step found"


async def erp_quiet(settings: Settings, poll_s: float, deadline: float) -> None:
    """Return once the ERP sandboxes' posting counters held still for one poll."""
    before = await erp_postings(settings)
    while time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        now = await erp_postings(settings)
        if now == before:
            return
        before = now


def _brief(v: SubscriptionView) -> str:
    return (f"{v.subscription_id}: {v.state}, applied {v.events_applied}, "
            f"pending {[p.waiting_for for p in v.pending]}, busy {v.busy}, "
            f"children {[(c.workflow_id, c.state) for c in v.children]}")
