"""A worker holds at most its cache's worth of workflows, however many it has run.

The real dev server (our search attributes registered, so flows upsert and hold
upserts, workflows/search.py) and the production runner (unsandboxed, so module state
is shared by every run, as in the worker process). Found by bench/scale.py: with a
cache of 2,000 the worker held 4 GiB after 10,000 subscriptions, every evicted entity
kept alive by the upsert state a module-level weak map held for it.
"""

from __future__ import annotations

import gc

from temporalio.client import Client

from tests.unit.flows_harness import World, annual, running, send, until

CACHE = 2
ENTITIES = 8


def alive(type_name: str) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o).__name__ == type_name)


async def test_evicted_entities_are_freed(dev_client: Client, task_queue: str) -> None:
    before = alive("SubscriptionWorkflow")
    async with running(dev_client, task_queue, World(), max_cached_workflows=CACHE,
                       sandboxed=False, search_attributes=True) as config:
        for i in range(ENTITIES):
            life = annual(f"sub_mem{i}_{task_queue}", invoice=True)
            handle = await send(dev_client, config, life.events)
            await until(handle, lambda v: v.state == "Active" and not v.busy)
        held = alive("SubscriptionWorkflow") - before
    # evictions are processed as the cache overflows; one may still be under way
    assert held <= CACHE + 1, f"{held} entity instances alive with a cache of {CACHE}"
