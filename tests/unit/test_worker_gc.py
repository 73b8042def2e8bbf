"""The worker's garbage-collector tuning: full collections spaced by the live heap."""

import gc
from collections.abc import Iterator

import pytest

import worker


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    if worker._rescale_full_collections in gc.callbacks:
        gc.callbacks.remove(worker._rescale_full_collections)
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_small_heap_keeps_the_floor() -> None:
    assert worker.full_collection_threshold(0) == worker.GC_MIN_FULL_EVERY
    assert worker.full_collection_threshold(300_000) == worker.GC_MIN_FULL_EVERY


def test_the_wait_grows_in_proportion_to_the_live_heap() -> None:
    small, large = (worker.full_collection_threshold(n) for n in (1_000_000, 4_000_000))
    assert small > worker.GC_MIN_FULL_EVERY
    assert large == pytest.approx(4 * small, rel=0.01)


def test_a_full_collection_rescales_the_next_one(restored_gc: None) -> None:
    worker.tune_gc()
    assert gc.get_threshold() == (*worker.GC_YOUNG_THRESHOLDS, worker.GC_MIN_FULL_EVERY)
    live = [[i] for i in range(1_500_000)]  # tracked containers that survive the collection
    gc.collect()
    threshold = gc.get_threshold()[2]
    assert threshold == worker.full_collection_threshold(len(gc.get_objects(generation=2)))
    assert threshold >= worker.full_collection_threshold(len(live))
    del live
    gc.collect()
    assert gc.get_threshold()[2] < threshold
    worker.tune_gc()  # a second call does not register the callback twice
    assert gc.callbacks.count(worker._rescale_full_collections) == 1
