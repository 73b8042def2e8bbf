"""The worker's collector: full collections spaced by the live heap, run between activations."""

import asyncio
import concurrent.futures
import contextlib
import gc
import threading
import time
from collections.abc import Iterator

import pytest

import worker_gc
from observability import metrics


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    if worker_gc._rescale_full_collections in gc.callbacks:
        gc.callbacks.remove(worker_gc._rescale_full_collections)
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_small_heap_keeps_the_floor() -> None:
    assert worker_gc.full_collection_threshold(0) == worker_gc.GC_MIN_FULL_EVERY
    assert worker_gc.full_collection_threshold(300_000) == worker_gc.GC_MIN_FULL_EVERY


def test_the_wait_grows_in_proportion_to_the_live_heap() -> None:
    small, large = (worker_gc.full_collection_threshold(n) for n in (1_000_000, 4_000_000))
    assert small > worker_gc.GC_MIN_FULL_EVERY
    assert large == pytest.approx(4 * small, rel=0.01)


def test_a_full_collection_rescales_the_next_one(restored_gc: None) -> None:
    worker_gc.tune_gc()
    assert gc.get_threshold() == (*worker_gc.GC_YOUNG_THRESHOLDS, worker_gc.GC_MIN_FULL_EVERY)
    live = [[i] for i in range(1_500_000)]  # tracked containers that survive the collection
    gc.collect()
    threshold = gc.get_threshold()[2]
    assert threshold == worker_gc.full_collection_threshold(len(gc.get_objects(generation=2)))
    assert threshold >= worker_gc.full_collection_threshold(len(live))
    del live
    gc.collect()
    assert gc.get_threshold()[2] < threshold
    worker_gc.tune_gc()  # a second call does not register the callback twice
    assert gc.callbacks.count(worker_gc._rescale_full_collections) == 1


def test_the_executor_counts_activations_until_they_are_done() -> None:
    release = threading.Event()
    with worker_gc.ActivationExecutor(max_workers=2) as pool:
        futures = [pool.submit(release.wait, 10) for _ in range(3)]
        assert pool.in_flight == 3
        release.set()
        concurrent.futures.wait(futures, timeout=10)
        assert all(f.result() for f in futures)
        assert pool.in_flight == 0


class Recorded:
    """Stands in for the worker's metric instruments: what was added and recorded."""

    def __init__(self) -> None:
        self.values: list[tuple[float, dict[str, str]]] = []

    def add(self, value: float, labels: dict[str, str]) -> None:
        self.values.append((value, labels))

    record = add


class Warnings:
    """Stands in for the module's logger: the warnings it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.events.append((event, fields))


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> tuple[Recorded, Recorded, Warnings]:
    counts, pauses, warnings = Recorded(), Recorded(), Warnings()
    monkeypatch.setattr(metrics, "worker_full_collections", counts)
    monkeypatch.setattr(metrics, "worker_full_collection_pause", pauses)
    monkeypatch.setattr(worker_gc, "log", warnings)
    return counts, pauses, warnings


@pytest.fixture
def full_starts() -> Iterator[list[float]]:
    starts: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            starts.append(time.monotonic())

    gc.callbacks.append(on_gc)
    yield starts
    gc.callbacks.remove(on_gc)


async def _first_collection(collections: worker_gc.FullCollections) -> None:
    """Waits (up to 3 s) for the scheduler's first full collection."""
    for _ in range(300):
        if collections.collections:
            return
        await asyncio.sleep(0.01)


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _churn() -> None:
    """Enough surviving allocations for the due count of middle-generation collections."""
    young, middle = worker_gc.GC_YOUNG_THRESHOLDS
    kept = [[i] for i in range(2 * young * middle * worker_gc.GC_MIN_FULL_EVERY)]
    del kept


async def test_full_collections_wait_for_the_activations_in_flight(
        restored_gc: None, full_starts: list[float], reported: tuple[Recorded, Recorded, Warnings],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_gc, "SLOW_FORCED_PAUSE_S", 0.0)
    worker_gc.tune_gc()
    release = threading.Event()
    with worker_gc.ActivationExecutor(max_workers=1) as pool:
        collections = worker_gc.FullCollections(pool, check_every_s=0.01, max_wait_s=30)
        task = asyncio.create_task(collections.run())
        await asyncio.sleep(0.05)
        assert gc.get_threshold()[2] == worker_gc.NEVER  # Python starts none itself
        busy = pool.submit(release.wait, 10)
        _churn()
        assert gc.get_count()[2] >= worker_gc.GC_MIN_FULL_EVERY
        await asyncio.sleep(0.3)
        assert full_starts == [] and collections.collections == 0
        released_at = time.monotonic()
        release.set()
        busy.result(timeout=10)
        await _first_collection(collections)
        assert collections.collections == 1 and collections.forced == 0
        counts, pauses, warnings = reported
        assert counts.values == [(1, {"forced": "false"})]
        assert [labels for _, labels in pauses.values] == [{"forced": "false"}]
        assert pauses.values[0][0] > 0
        assert warnings.events == []  # nothing was held, however long it took
        assert full_starts and full_starts[0] >= released_at
        await _stopped(task)
    # automatic again, spaced by the live heap, once the scheduler stops
    assert gc.get_threshold()[2] < worker_gc.NEVER
    assert worker_gc._rescale_full_collections in gc.callbacks


async def test_a_flood_that_never_pauses_is_collected_after_the_wait(
        restored_gc: None, reported: tuple[Recorded, Recorded, Warnings],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_gc, "SLOW_FORCED_PAUSE_S", 0.0)
    release = threading.Event()
    with worker_gc.ActivationExecutor(max_workers=1) as pool:
        collections = worker_gc.FullCollections(pool, check_every_s=0.01, max_wait_s=0.2)
        task = asyncio.create_task(collections.run())
        await asyncio.sleep(0.05)
        busy = pool.submit(release.wait, 10)
        _churn()
        await _first_collection(collections)
        assert collections.collections == 1 and collections.forced == 1
        counts, pauses, warnings = reported
        assert counts.values == [(1, {"forced": "true"})]
        assert [labels for _, labels in pauses.values] == [{"forced": "true"}]
        [(event, fields)] = warnings.events
        assert event == "full_collection_held_activations"
        live_objects = fields["live_objects"]
        assert isinstance(live_objects, int)
        assert fields["activations_in_flight"] == 1 and live_objects > 0
        release.set()
        busy.result(timeout=10)
        await _stopped(task)
