"""The parked-items gauge: flows parked right now, counted by flow and reason.

Counted from Temporal visibility at each scrape rather than kept in process memory: a
worker that restarts, or one of several workers, still reports every parked flow (with
several workers, aggregate with max(), not sum()).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import TimeoutError as FutureTimeout

import structlog
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

log = structlog.get_logger("cashloop.metrics")
FLOW = SearchAttributeKey.for_keyword("O2CFlow")
REASON = SearchAttributeKey.for_keyword("ParkedReason")


class ParkedCount:
    """Callable for observability.metrics.observe_parked.

    Args:
        client: the worker's Temporal client.
        query: visibility query of the flows parked now (cli.cookbook.PARKED_NOW).
        loop: the event loop the client runs on; scrapes come from another thread.
        timeout_s: how long a scrape waits for visibility.
    """

    def __init__(self, client: Client, query: str, loop: asyncio.AbstractEventLoop,
                 timeout_s: float = 10.0) -> None:
        self._client, self._query, self._loop, self._timeout = client, query, loop, timeout_s

    def __call__(self) -> list[tuple[int, dict[str, str]]]:
        future = asyncio.run_coroutine_threadsafe(self.count(), self._loop)
        try:
            counts = future.result(self._timeout)
        except (FutureTimeout, Exception) as err:  # a scrape never fails for this
            future.cancel()
            log.warning("parked_count_failed", error=str(err)[:200])
            return []
        return [(n, {"flow": flow, "reason": reason}) for (flow, reason), n in counts.items()]

    async def count(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter()
        async for wf in self._client.list_workflows(self._query):
            attrs = wf.typed_search_attributes
            counts[(attrs.get(FLOW) or "", attrs.get(REASON) or "")] += 1
        return counts
