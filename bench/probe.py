"""What the benchmarks need from a running stack: send, wait, read the books, count tasks."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import httpx
from temporalio.client import Client

from adapters.erp.sandbox import ErpDocument, SandboxErpReader
from canonical.events import EnvelopeBase
from cli.status import subscription_views
from devstack import stack
from devstack.demo import settled
from devstack.streams import Lifecycle
from gateway.client import GatewayClient
from settings import ERP_TARGETS, Settings
from workflows.subscription_state import SubscriptionView

POST_BATCH = 200
POST_CONCURRENCY = 4

T = TypeVar("T")


async def post_all(settings: Settings, events: Sequence[EnvelopeBase], batch: int = POST_BATCH,
                   concurrency: int = POST_CONCURRENCY) -> dict[str, float]:
    """POST every event to the gateway; returns when each was accepted (epoch seconds)."""
    credentials, _ = stack.gateway_credentials(settings)
    api_key = next(iter(credentials.api_key_map().values()))
    accepted: dict[str, float] = {}
    chunks = [events[i:i + batch] for i in range(0, len(events), batch)]
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=stack.gateway_url(settings), timeout=60) as http:
        gateway = GatewayClient(http, api_key)

        async def send(chunk: Sequence[EnvelopeBase]) -> None:
            async with limit:
                await gateway.post_events(chunk, batch=batch)
                now = time.time()
                accepted.update({e.event_id: now for e in chunk})

        await asyncio.gather(*(send(c) for c in chunks))
    return accepted


async def await_settled(client: Client, lives: list[Lifecycle], limit_s: float = 3600,
                        poll_s: float = 3.0) -> list[SubscriptionView | None]:
    """Poll until every subscription has applied its events and has nothing in flight."""
    expected = Counter({life.subscription_id: len(life.events) for life in lives})
    deadline = time.monotonic() + limit_s
    pending = set(expected)
    views: dict[str, SubscriptionView] = {}
    while pending:
        ids = sorted(pending)
        found = []
        for i in range(0, len(ids), 200):  # bounded fan-out of queries
            found += await subscription_views(client, ids[i:i + 200])
        for v in found:
            if settled(v, expected[v.subscription_id]):
                views[v.subscription_id] = v
                pending.discard(v.subscription_id)
        if pending:
            progress(f"{len(expected) - len(pending)}/{len(expected)} subscriptions settled")
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} subscriptions did not settle, e.g. "
                               f"{sorted(pending)[:5]}")
        if pending:
            await asyncio.sleep(poll_s)
    return [views.get(s) for s in sorted(expected)]


async def _each_erp(settings: Settings, read: Callable[[SandboxErpReader], Awaitable[T]]
                    ) -> list[T]:
    """`read` of every ERP sandbox's register, through its admin path."""
    found = []
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=120) as c:
            found.append(await read(SandboxErpReader(c)))
    return found


async def erp_documents(settings: Settings) -> dict[str, ErpDocument]:
    """Every document of every ERP sandbox, by external id."""
    return {d.external_id: d for docs in await _each_erp(
        settings, SandboxErpReader.observed_documents) for d in docs}


def progress(message: str) -> None:
    """One line on stderr, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def await_documents(settings: Settings, ids: set[str], poll_s: float = 2.0
                          ) -> dict[str, ErpDocument]:
    """Poll the ERP sandboxes' ids (not Temporal: queries are workflow tasks that would
    load the server being measured; not whole documents: building thousands of them on
    every look would load the sandboxes) until every expected document is there; returns
    the documents then."""
    while True:
        missing = ids - await erp_ids(settings)
        if not missing:
            return await erp_documents(settings)
        progress(f"{len(ids) - len(missing)}/{len(ids)} expected ERP documents")
        await asyncio.sleep(poll_s)


async def erp_ids(settings: Settings) -> set[str]:
    return set().union(*await _each_erp(settings, SandboxErpReader.observed_ids))


def last_created(docs: dict[str, ErpDocument], ids: set[str]) -> float:
    """When the newest of `ids` was created in its ERP (epoch seconds)."""
    return max(d.created_at.timestamp() for i in ids if (d := docs[i]).created_at)


async def metrics_text(url: str) -> str:
    """A Prometheus endpoint's text (the worker's SDK, the dev server)."""
    async with httpx.AsyncClient(timeout=30) as c:
        return (await c.get(url)).text


class SdkCounters:
    """Task counters from the worker's SDK metrics endpoint (Prometheus text)."""

    COUNTERS = {
        "workflow_tasks": "temporal_workflow_task_execution_latency_count",
        "activities": "temporal_activity_execution_latency_count",
        "local_activities": "temporal_local_activity_execution_latency_count",
        # a workflow task for a run the worker had evicted: it fetched the run's history
        "cache_misses": "temporal_sticky_cache_miss",
    }

    def __init__(self, settings: Settings) -> None:
        self.url = f"http://{settings.host}:{settings.sdk_metrics_port}/metrics"

    async def read(self) -> dict[str, float]:
        return self.totals(await metrics_text(self.url))

    @classmethod
    def totals(cls, text: str) -> dict[str, float]:
        """Each counter summed over its label sets (0 where the worker has none yet)."""
        totals: dict[str, float] = {}
        for key, metric in cls.COUNTERS.items():
            # counters carry a _total suffix where the runtime's Prometheus config says so
            names = (metric, metric + "_total")
            totals[key] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                              if line.split("{", 1)[0].split(" ", 1)[0] in names)
        return totals


class ServerCounters:
    """The dev server's task and persistence counters from its /metrics (Prometheus text):
    history tasks by kind (transfer, timer, visibility) and database requests by operation
    (GetWorkflowExecution is a load of an execution's state its cache did not hold)."""

    FAMILIES = ("task_requests", "persistence_requests")

    def __init__(self, settings: Settings) -> None:
        self.url = f"http://{settings.host}:{settings.temporal_metrics_port}/metrics"

    async def read(self) -> dict[str, dict[str, float]]:
        return self.totals(await metrics_text(self.url))

    @classmethod
    def totals(cls, text: str) -> dict[str, dict[str, float]]:
        """Each family's counts by operation, summed over the other labels."""
        totals: dict[str, defaultdict[str, float]] = {family: defaultdict(float)
                                                      for family in cls.FAMILIES}
        for line in text.splitlines():
            name, _, rest = line.partition("{")
            if name not in totals or 'operation="' not in rest:
                continue
            operation = rest.split('operation="', 1)[1].split('"', 1)[0]
            totals[name][operation] += float(line.rsplit(" ", 1)[1])
        return {family: dict(counts) for family, counts in totals.items()}

    @staticmethod
    def moved(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]],
              family: str) -> dict[str, float]:
        """What each operation of `family` counted between two readings (non-zero only)."""
        old = before.get(family, {})
        return {op: n - old.get(op, 0.0) for op, n in after.get(family, {}).items()
                if n != old.get(op, 0.0)}
