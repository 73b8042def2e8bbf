"""How far the engine is behind, so the forwarder can hand it work no faster than it drains.

Opt-in (CASHLOOP_FORWARD_MAX_ENGINE_BACKLOG, off by default). Ungated, a burst accepted
at the gateway goes to Temporal as fast as signal-with-start allows: every entity of a
100,000-activation flood exists at once with a workflow task queued (the twelfth
session's queue was 35 minutes deep, and a task that timed out went back to its end).
Gated, the engine's queue stays near the limit and the burst waits in the gateway's inbox
instead — durable, counted by cashloop_gateway_backlog_events. It is not faster: a
10,000-activation flood drained in 11 min ungated against 12-14 min gated on this
machine, and the throughput bench's mixed stream lost a fifth of its pace
(docs/performance.md), so it is for operators who want Temporal's queue bounded more
than they want a burst's pace.

The reading is the entity task queue's workflow-task statistics (DescribeTaskQueue with
report_stats: the approximate backlog and the rate tasks leave it), which the server
refreshes about every 5 s, so the forwarder reads them as often (`refresh_s`). Until the
next reading it may send the room left under the limit plus what the engine will take
meanwhile: the larger of the queue's dispatch rate over the interval and, while the
backlog is under the limit, twice what was sent in the last interval. The queue counts
the tasks of new and of evicted-and-timed-out workflows; an event for a workflow the
worker holds goes to the worker's own (sticky) queue and never shows here, so a stream
the engine keeps up with must not be held to this queue's rate: under the limit the
budget doubles each interval instead. A backlog above the limit shrinks the next budget.
A failed reading does not stop forwarding: the forwarder must never depend on more than
the signal it sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

log = structlog.get_logger("cashloop.gateway.engine_backlog")

DEFAULT_REFRESH_S = 5.0


@dataclass(frozen=True)
class Reading:
    backlog: int  # workflow tasks waiting
    dispatch_per_s: float  # workflow tasks handed to workers per second


async def workflow_task_stats(client: Client, task_queue: str) -> Reading:
    """The workflow-task statistics of `task_queue` (approximate; cached by the server)."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, report_stats=True))
    stats = response.stats
    return Reading(int(stats.approximate_backlog_count), float(stats.tasks_dispatch_rate))


class EngineBacklog:
    """A budget of signals per reading of the engine's backlog (limit 0: no gate)."""

    def __init__(self, task_queue: str, limit: int,
                 refresh_s: float = DEFAULT_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._task_queue = task_queue
        self.limit = limit
        self._refresh_s = refresh_s
        self._clock = clock
        self._read_at: float | None = None
        self._budget = 0
        self._sent = 0  # since the last reading
        self.last_reading: Reading | None = None
        self.held_rounds = 0  # drains that sent nothing because the budget was spent

    async def budget(self, client: Client) -> int | None:
        """Signals the forwarder may send now; None when there is no limit."""
        if self.limit <= 0:
            return None
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            self._read_at = now
            try:
                self.last_reading = await workflow_task_stats(client, self._task_queue)
            except Exception as exc:  # a reading is advice: forward as if the engine kept up
                log.warning("engine_backlog_unread", error=f"{type(exc).__name__}: {exc}")
                self.last_reading = None
            reading = self.last_reading or Reading(0, 0.0)
            room = self.limit - reading.backlog
            taken = int(reading.dispatch_per_s * self._refresh_s)
            if room > 0:  # the engine kept up with the last interval's signals
                taken = max(taken, 2 * self._sent)
            self._budget, self._sent = room + taken, 0
        if self._budget <= 0:
            self.held_rounds += 1
        return max(0, self._budget)

    def spend(self, signals: int) -> None:
        self._budget -= signals
        self._sent += signals
