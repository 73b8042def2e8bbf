"""The worker's garbage collector: when its full collections run, and how often.

A cache miss builds a workflow instance and lets an evicted one go, so a worker whose
cache is full keeps promoting objects into the oldest generation, and only a full
collection frees an evicted workflow (its objects form cycles). A full collection scans
every live object — about 0.5 s of CPU over a cache of 2,000 workflows, 1-3 s over one of
10,000 — so:

* its cost per event is its size over the allocations between two of them. With fixed
  thresholds that grew with the cache (a worker holding 2,000 workflows paid twice what
  one holding 1,000 paid per event). After each full collection the next one waits for
  allocations in proportion to what survived it (FULL_GC_EVERY_LIVE times the live
  objects, at least GC_MIN_FULL_EVERY middle-generation collections, ~700,000
  allocations): the collector's cost per event stays flat, and what evicted workflows
  leave uncollected stays in proportion to the cache.
* its pause used to land inside whichever workflow activation allocated at the time, and
  the SDK fails an activation that has not finished 2 s after it was handed to its thread
  pool as a "potential deadlock" (seen with a cache of 10,000: a full collection of 3 s
  inside an activation). `FullCollections` runs them on the event loop instead, at a
  moment when no activation is in flight (`ActivationExecutor` counts them): the SDK
  hands activations to the pool from the event loop, so none starts while it collects.
  Each one is counted and timed (cashloop_worker_full_collections,
  cashloop_worker_full_collection_pause_seconds), and one forced on activations in flight
  that held the interpreter for a second or more is logged: the next such may fail them.

docs/performance.md (the design table's GC rows; scale, fifteenth session).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from observability import metrics
from observability.logging import get_logger

log = get_logger("cashloop.worker.gc")

GC_YOUNG_THRESHOLDS = (700, 10)
GC_MIN_FULL_EVERY = 100
FULL_GC_EVERY_LIVE = 2.0
# Python starts a full collection itself once this many middle-generation ones have run.
NEVER = 1_000_000_000
# The SDK sizes its own pool like this when given no executor and no slot count.
ACTIVATION_THREADS = 500
# The SDK fails an activation not done 2 s after it reached the pool ("potential deadlock");
# a forced collection this long is half-way there.
SLOW_FORCED_PAUSE_S = 1.0


def full_collection_threshold(live_objects: int) -> int:
    """Middle-generation collections to wait for before the next full collection."""
    young, middle = GC_YOUNG_THRESHOLDS
    return max(GC_MIN_FULL_EVERY, round(FULL_GC_EVERY_LIVE * live_objects / (young * middle)))


def _live_objects() -> int:
    return len(gc.get_objects(generation=2))


def _rescale_full_collections(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.set_threshold(*GC_YOUNG_THRESHOLDS, full_collection_threshold(_live_objects()))


def tune_gc() -> None:
    """At start: the modules' objects frozen, full collections spaced by the live heap."""
    gc.freeze()
    gc.set_threshold(*GC_YOUNG_THRESHOLDS, GC_MIN_FULL_EVERY)
    if _rescale_full_collections not in gc.callbacks:
        gc.callbacks.append(_rescale_full_collections)


class ActivationExecutor(concurrent.futures.ThreadPoolExecutor):
    """The SDK's thread pool for workflow activations, counting those not yet done."""

    def __init__(self, max_workers: int = ACTIVATION_THREADS) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="temporal_workflow_")
        self._count_lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> concurrent.futures.Future[Any]:
        with self._count_lock:
            self._in_flight += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: object) -> None:
        with self._count_lock:
            self._in_flight -= 1


def _report(pause_s: float, in_flight: int, live_objects: int) -> None:
    labels = {"forced": "true" if in_flight else "false"}
    metrics.worker_full_collections.add(1, labels)
    metrics.worker_full_collection_pause.record(pause_s, labels)
    if in_flight and pause_s >= SLOW_FORCED_PAUSE_S:
        log.warning("full_collection_held_activations", pause_s=round(pause_s, 2),
                    activations_in_flight=in_flight, live_objects=live_objects,
                    hint="activations held 2 s fail as a potential deadlock and are retried; "
                         "a smaller CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS shortens collections")


class FullCollections:
    """Runs the worker's full collections on the event loop, between activations.

    While `run` runs, Python starts no full collection itself; `run` starts one once
    the middle generation has been collected as often as the live heap allows
    (full_collection_threshold), as soon as no activation is in flight, or after
    `max_wait_s` regardless (memory stays bounded under a flood that never pauses).
    """

    def __init__(self, executor: ActivationExecutor, *, check_every_s: float = 0.25,
                 poll_s: float = 0.002, max_wait_s: float = 30.0) -> None:
        self._executor = executor
        self._check_every_s = check_every_s
        self._poll_s = poll_s
        self._max_wait_s = max_wait_s
        self.collections = 0
        self.forced = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        rescaling = _rescale_full_collections in gc.callbacks
        if rescaling:
            gc.callbacks.remove(_rescale_full_collections)
        due = max(GC_MIN_FULL_EVERY, gc.get_threshold()[2])
        gc.set_threshold(*GC_YOUNG_THRESHOLDS, NEVER)
        try:
            while True:
                await asyncio.sleep(self._check_every_s)
                if gc.get_count()[2] < due:
                    continue
                give_up = loop.time() + self._max_wait_s
                # polled: the count falls in the pool's threads, and an activation takes
                # about a millisecond, so a wake-up per activation would cost more
                while self._executor.in_flight and loop.time() < give_up:  # noqa: ASYNC110
                    await asyncio.sleep(self._poll_s)
                # nothing awaits between the check and the collection: no activation
                # can be handed to the pool meanwhile
                in_flight = self._executor.in_flight
                started = time.perf_counter()
                gc.collect(2)
                pause_s = time.perf_counter() - started
                self.collections += 1
                self.forced += bool(in_flight)
                live = _live_objects()
                _report(pause_s, in_flight, live)
                due = full_collection_threshold(live)
        finally:
            gc.set_threshold(*GC_YOUNG_THRESHOLDS, due)
            if rescaling:
                gc.callbacks.append(_rescale_full_collections)
