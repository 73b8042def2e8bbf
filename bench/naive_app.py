"""The naive baseline: one workflow per event, three trivial activities, nothing shared.

What a straightforward Temporal integration would do; bench/throughput.py measures it
on the same server as Cashloop, in the same run, and prints the ratio.
Run a worker: python -m bench.naive_app --address HOST:PORT --task-queue Q
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def map_event(event: dict[str, Any]) -> dict[str, Any]:
    return {"id": event["id"], "kind": event.get("kind", "event")}


@activity.defn
async def validate_event(mapped: dict[str, Any]) -> dict[str, Any]:
    return {**mapped, "valid": True}


@activity.defn
async def post_event(mapped: dict[str, Any]) -> str:
    return f"posted:{mapped['id']}"


@workflow.defn
class NaiveEventWorkflow:
    @workflow.run
    async def run(self, event: dict[str, Any]) -> str:
        mapped = await workflow.execute_activity(map_event, event,
                                                 start_to_close_timeout=TIMEOUT)
        checked = await workflow.execute_activity(validate_event, mapped,
                                                  start_to_close_timeout=TIMEOUT)
        return await workflow.execute_activity(post_event, checked,
                                               start_to_close_timeout=TIMEOUT)


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    # the same worker tuning Cashloop's main worker gets (worker.py)
    async with Worker(client, task_queue=task_queue, workflows=[NaiveEventWorkflow],
                      activities=[map_event, validate_event, post_event],
                      max_cached_workflows=2000, max_concurrent_workflow_task_polls=20,
                      max_concurrent_activity_task_polls=20):
        print("naive worker polling", flush=True)
        await stop.wait()


async def run_baseline(client: Client, task_queue: str, events: int,
                       wait_group: int = 500) -> float:
    """Start `events` workflows at once, wait for all; return wall seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    handles = []
    sem = asyncio.Semaphore(64)

    async def start(i: int) -> None:
        async with sem:
            handles.append(await client.start_workflow(
                NaiveEventWorkflow.run, {"id": f"e{i}", "kind": "invoice.issued"},
                id=f"naive-{task_queue}-{i}", task_queue=task_queue))

    await asyncio.gather(*(start(i) for i in range(events)))
    # the dev server limits concurrent long polls per namespace: wait in groups
    for i in range(0, len(handles), wait_group):
        await asyncio.gather(*(h.result() for h in handles[i:i + wait_group]))
    return loop.time() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--address", required=True)
    p.add_argument("--task-queue", required=True)
    args = p.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
