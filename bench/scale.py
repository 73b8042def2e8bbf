"""Per-event cost and worker memory as the number of subscriptions grows.

    python -m bench.scale [--sizes 200,1000] [--probe-events 300] [--cache 500] [--json]

For each size N, on a fresh private stack: N subscriptions are activated (untimed set-up,
the population), then a fixed probe of invoice events for distinct subscriptions drawn across the
whole population (seeded) is posted at once and timed to its last ERP posting. Its CPU is
counted from a quiet stack until the server's timers for the probe's workflow tasks have
fired, less what the idle stack uses in that time (see SETTLE_S). With the
worker's workflow cache smaller than N (`--cache`), most probed subscriptions are no
longer in memory: they are replayed from history when their event arrives, and
continue-as-new keeps those histories short. Prints per size: probe events/s, server and
worker CPU per probe event, workflow tasks per event, the worker's resident memory
before and after, the machine's pace just before the probe (bench/machine.py: runs
minutes apart here can differ by half), and the per-event cost of the largest size over
the smallest (target <= 1.3). Writes bench/results/scale-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import time
from typing import Any

from bench import machine, report
from bench.burst import invoice_run
from bench.harness import bench_settings, pid_of, running_stack
from bench.probe import SdkCounters, await_documents, last_created, post_all, progress
from bench.procstat import CpuMeter, rss_mib
from devstack.streams import add_months

# The server arms two timers per workflow task (schedule-to-start on the sticky queue,
# start-to-close), 10 s each, and handles each when it fires, loading the execution's
# state. Timed to the last posting, a fast probe left most of its own timers outside the
# window while a slow one paid for its own and the population's: so the meter starts on
# a quiet stack (the population's tasks done and their timers fired) and stops once the
# probe's timers have fired, and the idle stack's CPU over that time (pollers, the
# server's housekeeping) is subtracted.
SETTLE_S = 12.0
IDLE_S = 5.0
QUIET = {"temporal": 0.1, "worker": 0.05}  # CPU seconds per second: what counts as idle


async def cpu_rate(meter: CpuMeter) -> dict[str, float]:
    """CPU seconds per second of each process over the next IDLE_S."""
    meter.start()
    await asyncio.sleep(IDLE_S)
    return {name: seconds / IDLE_S for name, seconds in meter.stop().items()}


async def quiet_rate(meter: CpuMeter) -> dict[str, float]:
    """Waits for the stack to go quiet; its idle CPU seconds per second then."""
    rate = await cpu_rate(meter)
    while any(rate[name] > limit for name, limit in QUIET.items()):
        progress(f"waiting for a quiet stack: {rate}")
        rate = await cpu_rate(meter)
    await asyncio.sleep(SETTLE_S)  # the last tasks' timers
    return await cpu_rate(meter)


async def one_size(size: int, probe: int, cache: int, seed: int) -> dict[str, Any]:
    lives, _ = invoice_run(size, 0, dt.datetime.now(dt.UTC).date())
    rnd = random.Random(seed)
    probed = []
    # Monthly invoices of subscriptions drawn across the population, each subscription at
    # most once while the population allows: drawn with replacement, the smaller
    # population's probe held more events per subscription (1,000 subscriptions: 1.27 for
    # 500 events), which the entity drains in one workflow task, so its events looked
    # cheaper for a reason that has nothing to do with the population's size.
    picks = (rnd.sample(range(size), probe) if probe <= size
             else [rnd.randrange(size) for _ in range(probe)])
    for n, pick in enumerate(picks):
        life = lives[pick]
        month = sum(1 for e in life.events if e.event_type == "invoice.issued")
        begin = add_months(life.subscription.term_start, month)
        life.invoice(f"sin{n:07d}", begin, add_months(begin, 1))
        probed.append(life.events[-1])
    settings = bench_settings(worker_max_cached_workflows=cache,
                              flow_config_json=json.dumps({"renewals_enabled": False}))
    with running_stack(settings) as procs:
        worker = pid_of(procs, "worker")
        meter = CpuMeter({name: pid_of(procs, name) for name in ("temporal", "worker")})
        progress(f"size {size}: activating the population (untimed)")
        await post_all(settings, [life.events[0] for life in lives])
        await await_documents(settings, {report.document_of(life.events[0]) or ""
                                         for life in lives}, poll_s=5.0)
        idle = await quiet_rate(meter)
        pace = machine.speed_ms()  # on the quiet stack, so the probe's work is not in it
        rss_before = rss_mib(worker)
        sdk = SdkCounters(settings)
        before = await sdk.read()
        progress(f"size {size}: probe of {probe} invoice events")
        meter.start()
        started = time.time()
        await post_all(settings, probed)
        ids = {f"inv:{e.payload.invoice.invoice_id}" for e in probed}
        docs = await await_documents(settings, ids)
        until_posted = meter.stop()
        await asyncio.sleep(SETTLE_S)
        settled = meter.stop()
        window = time.time() - started
        after = await sdk.read()
        rss_after = rss_mib(worker)
    seconds = last_created(docs, ids) - started
    cpu = {name: max(0.0, settled[name] - idle[name] * window) for name in settled}
    return {
        "subscriptions": size, "probe_events": probe, "cache": cache,
        "machine_pace_ms": pace,
        "events_per_s": round(probe / seconds, 1),
        "cpu_ms_per_event": report.per_event(cpu, probe),
        # what earlier runs reported: CPU from the probe's start to its last posting
        "cpu_ms_per_event_until_posted": report.per_event(until_posted, probe),
        "idle_cpu_ms_per_s": {name: round(rate * 1000, 1) for name, rate in idle.items()},
        "workflow_tasks_per_event": round(
            (after["workflow_tasks"] - before["workflow_tasks"]) / probe, 2),
        "worker_rss_mib": {"before_probe": round(rss_before), "after_probe": round(rss_after)},
    }


def cost(run: dict[str, Any]) -> float:
    cpu = run["cpu_ms_per_event"]
    return float(cpu["temporal"] + cpu["worker"])


def growth(runs: list[dict[str, Any]]) -> float:
    """Mean cost per event at the largest size over the mean at the smallest.

    A size may be run more than once (`--sizes 1000,10000,1000`): the machine's pace
    drifts over the minutes between runs, and a smaller size run before and after a
    larger one cancels a steady drift.
    """
    def mean_at(size: int) -> float:
        costs = [cost(r) for r in runs if r["subscriptions"] == size]
        return sum(costs) / len(costs)

    sizes = [r["subscriptions"] for r in runs]
    return round(mean_at(max(sizes)) / mean_at(min(sizes)), 2)


async def measure(sizes: list[int], probe: int, cache: int, seed: int) -> dict[str, Any]:
    runs = [await one_size(size, probe, cache, seed) for size in sizes]
    return {"runs": runs, "cost_growth": growth(runs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="200,1000",
                   help="comma-separated subscription counts (e.g. 1000,10000,100000); a size may "
                        "repeat (1000,10000,1000) to cancel the machine's drift")
    p.add_argument("--subscriptions", type=int, default=None,
                   help="one size only (same as --sizes N)")
    p.add_argument("--probe-events", type=int, default=300)
    p.add_argument("--cache", type=int, default=500,
                   help="the worker's max cached workflows (CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args()
    sizes = ([args.subscriptions] if args.subscriptions
             else [int(s) for s in args.sizes.split(",")])
    result = asyncio.run(measure(sizes, args.probe_events, args.cache, args.seed))
    report.emit("scale", result, args.json)


if __name__ == "__main__":
    main()
