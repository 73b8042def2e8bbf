"""Per-event cost and worker memory as the number of subscriptions grows.

    python -m bench.scale [--sizes 200,1000] [--probe-events 300] [--cache 500]
                          [--rounds 2] [--rpc-calls 300] [--json]

One private stack per size, all up at once: on each, N subscriptions are activated
(untimed set-up, the population). Then a fixed probe of invoice events for distinct
subscriptions drawn across each population (seeded) is sent in rounds, the stacks taking
turns (A B, B A, ...), each round's batch posted at once and timed to its last ERP
posting. The machines here are shared and their pace drifts by half within minutes
(docs/performance.md, scale); probed in turns, every size meets the same drift, where
probed one after the other the larger size always came last, after its long population.
A batch's CPU is counted from a quiet stack until the server's timers for its workflow
tasks have fired, less what the idle stack uses in that time (see SETTLE_S). With the
worker's workflow cache smaller than N (`--cache`), most probed subscriptions are no
longer in memory: they are replayed from history when their event arrives, and
continue-as-new keeps those histories short. Prints per size: probe events/s, server and
worker CPU per probe event (and per round), workflow tasks per event, the worker's
resident memory before and after, the machine's pace before each batch
(bench/machine.py), the worker's cache misses per event, the per-event cost of the
largest size over the smallest (target <= 1.3), and what a miss costs and the growth once
every event misses, fitted through the two (`miss_model`: from a 1,000/10,000 run, an
estimate of where a far larger population tends), and the server's CPU per history fetch
(the request a miss adds) and per describe, timed after the probe: the part of a miss
no change to Cashloop can remove; and from the server's own /metrics, its history tasks
and database requests per probe event (an execution's state loaded, a history read).
Writes bench/results/scale-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from bench import machine, report
from bench.burst import invoice_run
from bench.harness import BENCH_PORTS, bench_settings, pid_of, ports_from, running_stack
from bench.probe import (
    SdkCounters,
    ServerCounters,
    await_documents,
    last_created,
    post_all,
    progress,
)
from bench.procstat import CpuMeter, kernel_threads_cpu_seconds, major_faults, read_bytes, rss_mib
from canonical.events import EnvelopeBase
from devstack.streams import add_months
from settings import Settings
from temporal_client import connect
from workflows.subscription import entity_workflow_id

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
# Stacks side by side: layouts 20 ports apart never collide for up to 5 stacks (a
# layout's sandbox ports run 100-106 above its gateway port).
STACK_STRIDE = 20
MAX_STACKS = 5
# Invoice events sent to each stack before the probe, untimed: a worker's first invoices
# pay for code paths the activations did not take (twice the CPU of later ones, in a
# first round measured without it).
WARMUP = 20
# The kernel's proactive reclaim (DAMON, on the machines here: cold pages paged out after
# about a minute untouched, so an idle stack's database and code are read back from disk
# when the probe reaches them): its CPU, and the server's and worker's disk reads and
# major faults during each round, are kept beside the figures as context.
RECLAIM_THREADS = "kdamond"
# Misses per event the largest size must exceed the smallest's by before the miss model
# (miss_model) is fitted: below that, noise in the costs dominates the fitted miss cost.
MIN_MISS_SPREAD = 0.3
# What the server spends on the one request a miss adds (the worker's fetch of the
# entity's history), beside a plain request of about the same size (a describe): timed on
# the quiet stack after the probe, over entities drawn across the population, so the
# server's state for most of them is not cached either.
RPC_CALLS = 300
# Server operations counted fewer times than this per probe event are left out of the
# result (the server's housekeeping, which the probe did not cause).
MIN_SERVER_COUNT = 0.05


async def cpu_rate(meter: CpuMeter) -> dict[str, float]:
    """CPU seconds per second of each process over the next IDLE_S."""
    meter.start()
    await asyncio.sleep(IDLE_S)
    return {name: seconds / IDLE_S for name, seconds in meter.stop().items()}


async def quiet_rate(meter: CpuMeter, server: ServerCounters) -> dict[str, float]:
    """Waits for the stack to go quiet (for IDLE_S no history task run by the server and
    every process under QUIET); its idle CPU seconds per second then.

    The CPU alone let the 50,000 stack pass with its server still burning 108 ms a second;
    counting the server's history tasks too tells a server still working off the
    population's flood from an idle one.
    """
    before = await server.read()
    while True:
        rate = await cpu_rate(meter)
        after = await server.read()
        tasks = ServerCounters.moved(before, after, "task_requests")
        if not tasks and all(rate[name] <= limit for name, limit in QUIET.items()):
            break
        progress(f"waiting for a quiet stack: {rate}, server tasks {tasks}")
        before = after
    await asyncio.sleep(SETTLE_S)  # the last tasks' timers
    return await cpu_rate(meter)


def draw(rnd: random.Random, size: int, batches: list[int]) -> list[list[int]]:
    """Subscriptions (indexes into the population) for each batch: distinct across the
    batches while the population allows, else distinct within each batch."""
    if sum(batches) <= size:
        picks = iter(rnd.sample(range(size), sum(batches)))
        return [[next(picks) for _ in range(n)] for n in batches]
    return [rnd.sample(range(size), n) if n <= size else [rnd.randrange(size) for _ in range(n)]
            for n in batches]


def probe_batches(size: int, probe: int, rounds: int, seed: int
                  ) -> tuple[list[EnvelopeBase], list[EnvelopeBase], list[list[EnvelopeBase]]]:
    """The population's activations, a warm-up batch and the probe's invoice events split
    into rounds."""
    lives, _ = invoice_run(size, 0, dt.datetime.now(dt.UTC).date())
    # Monthly invoices of subscriptions drawn across the population, each subscription at
    # most once in a batch: drawn with replacement, the smaller population's probe held
    # more events per subscription (1,000 subscriptions: 1.27 for 500 events), which the
    # entity drains in one workflow task, so its events looked cheaper for a reason that
    # has nothing to do with the population's size. Across batches too where the
    # population allows: a larger population's entity probed twice would be cached.
    sizes = [WARMUP] + [len(range(probe)[r::rounds]) for r in range(rounds)]
    batches: list[list[EnvelopeBase]] = []
    for picks in draw(random.Random(seed), size, sizes):
        batch: list[EnvelopeBase] = []
        for pick in picks:
            life = lives[pick]
            month = sum(1 for e in life.events if e.event_type == "invoice.issued")
            begin = add_months(life.subscription.term_start, month)
            life.invoice(f"sin{len(batches)}-{len(batch):07d}", begin, add_months(begin, 1))
            batch.append(life.events[-1])
        batches.append(batch)
    return [life.events[0] for life in lives], batches[0], batches[1:]


@dataclass
class Population:
    """One size's stack, its probe and what its rounds measured."""

    size: int
    settings: Settings
    meter: CpuMeter
    worker: int
    server: ServerCounters
    batches: list[list[EnvelopeBase]]
    subscription_ids: list[str]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    rss_before: float = 0.0
    rpc_ms: dict[str, float] = field(default_factory=dict)

    async def probe_round(self, batch: list[EnvelopeBase]) -> None:
        idle = await quiet_rate(self.meter, self.server)
        pace = machine.speed_ms()  # on the quiet stack, so the probe's work is not in it
        if not self.rounds:
            self.rss_before = rss_mib(self.worker)
        sdk = SdkCounters(self.settings)
        before, server_before = await sdk.read(), await self.server.read()
        faults, reads = self._each(major_faults), self._each(read_bytes)
        reclaim = kernel_threads_cpu_seconds(RECLAIM_THREADS)
        progress(f"size {self.size}: round {len(self.rounds) + 1}, {len(batch)} invoice events")
        self.meter.start()
        started = time.time()
        await post_all(self.settings, batch)
        ids = {f"inv:{e.payload.invoice.invoice_id}" for e in batch}
        docs = await await_documents(self.settings, ids)
        until_posted = self.meter.stop()
        await asyncio.sleep(SETTLE_S)
        settled = self.meter.stop()
        window = time.time() - started
        after, server_after = await sdk.read(), await self.server.read()
        self.rounds.append({
            "major_faults": {name: n - faults[name]
                             for name, n in self._each(major_faults).items()},
            "disk_read_bytes": {name: n - reads[name]
                                for name, n in self._each(read_bytes).items()},
            "reclaim_cpu_s": kernel_threads_cpu_seconds(RECLAIM_THREADS) - reclaim,
            "events": len(batch), "machine_pace_ms": pace,
            "seconds": last_created(docs, ids) - started,
            "cpu": {name: max(0.0, settled[name] - idle[name] * window) for name in settled},
            "until_posted": until_posted,
            "idle": idle,
            "workflow_tasks": after["workflow_tasks"] - before["workflow_tasks"],
            "cache_misses": after["cache_misses"] - before["cache_misses"],
            **{family: ServerCounters.moved(server_before, server_after, family)
               for family in ServerCounters.FAMILIES}})

    async def time_rpcs(self, calls: int, seed: int) -> None:
        """Server CPU per history fetch and per describe, on the quiet stack."""
        if calls <= 0:
            return
        client = await connect(self.settings)
        rnd = random.Random(seed)
        handles = [client.get_workflow_handle(entity_workflow_id(rnd.choice(self.subscription_ids)))
                   for _ in range(calls)]
        requests: dict[str, Callable[[Any], Any]] = {
            "history_fetch": lambda h: h.fetch_history(), "describe": lambda h: h.describe()}
        for name, request in requests.items():
            idle = await quiet_rate(self.meter, self.server)
            progress(f"size {self.size}: {calls} requests of {name}")
            self.meter.start()
            started = time.time()
            for handle in handles:
                await request(handle)
            window = time.time() - started
            server = self.meter.stop()["temporal"] - idle["temporal"] * window
            self.rpc_ms[name] = round(1000 * max(0.0, server) / calls, 2)

    def _each(self, read: Callable[[int], int]) -> dict[str, int]:
        """`read` of each metered process (server and worker)."""
        return {name: read(pid) for name, pid in self.meter.pids.items()}

    def summary(self, cache: int) -> dict[str, Any]:
        events = sum(r["events"] for r in self.rounds)

        def total(key: str) -> dict[str, float]:
            return {name: sum(r[key][name] for r in self.rounds) for name in self.meter.pids}

        return {
            "subscriptions": self.size, "probe_events": events, "cache": cache,
            "rounds": len(self.rounds),
            "machine_pace_ms": round(median(r["machine_pace_ms"] for r in self.rounds), 1),
            "events_per_s": round(events / sum(r["seconds"] for r in self.rounds), 1),
            "cpu_ms_per_event": report.per_event(total("cpu"), events),
            # what earlier runs reported: CPU from the probe's start to its last posting
            "cpu_ms_per_event_until_posted": report.per_event(total("until_posted"), events),
            "cost_ms_per_round": [round(1000 * sum(r["cpu"].values()) / r["events"], 1)
                                  for r in self.rounds],
            "idle_cpu_ms_per_s": {name: round(1000 * median(r["idle"][name] for r in self.rounds),
                                              1) for name in self.meter.pids},
            "workflow_tasks_per_event": round(
                sum(r["workflow_tasks"] for r in self.rounds) / events, 2),
            "cache_misses_per_event": round(
                sum(r["cache_misses"] for r in self.rounds) / events, 2),
            "major_faults_per_event": {name: round(n / events, 2)
                                       for name, n in total("major_faults").items()},
            "disk_read_kib_per_event": {name: round(n / 1024 / events, 1)
                                        for name, n in total("disk_read_bytes").items()},
            "reclaim_cpu_ms_per_event": round(
                1000 * sum(r["reclaim_cpu_s"] for r in self.rounds) / events, 2),
            "worker_rss_mib": {"before_probe": round(self.rss_before),
                               "after_probe": round(rss_mib(self.worker))},
            "server_cpu_ms_per_request": self.rpc_ms,
            # what the server did for the probe: its history tasks, and its database
            # requests (an execution's state loaded: GetWorkflowExecution)
            **{f"server_{family}_per_event": self._per_event(family, events)
               for family in ServerCounters.FAMILIES},
        }

    def _per_event(self, family: str, events: int) -> dict[str, float]:
        counts: Counter[str] = Counter()
        for r in self.rounds:
            counts.update(r[family])
        return {op: round(n / events, 2) for op, n in counts.most_common()
                if n / events >= MIN_SERVER_COUNT}


async def populate(stacks: contextlib.ExitStack, index: int, size: int, probe: int,
                   cache: int, rounds: int, seed: int) -> Population:
    """Starts the size's stack (ports STACK_STRIDE apart) and activates its population."""
    activations, warmup, batches = probe_batches(size, probe, rounds, seed)
    settings = bench_settings(**ports_from(BENCH_PORTS["temporal_port"] + STACK_STRIDE * index),
                              worker_max_cached_workflows=cache,
                              flow_config_json=json.dumps({"renewals_enabled": False}))
    procs = stacks.enter_context(running_stack(settings))
    meter = CpuMeter({name: pid_of(procs, name) for name in ("temporal", "worker")})
    progress(f"size {size}: activating the population (untimed)")
    await post_all(settings, activations)
    await await_documents(settings, {report.document_of(e) or "" for e in activations},
                          poll_s=5.0)
    progress(f"size {size}: {len(warmup)} invoice events to warm up (untimed)")
    await post_all(settings, warmup)
    await await_documents(settings, {report.document_of(e) or "" for e in warmup})
    return Population(size, settings, meter, pid_of(procs, "worker"), ServerCounters(settings),
                      batches, [e.subscription_id for e in activations])


def cost(run: dict[str, Any]) -> float:
    cpu = run["cpu_ms_per_event"]
    return float(cpu["temporal"] + cpu["worker"])


def _mean_at(runs: list[dict[str, Any]], size: int,
             figure: Callable[[dict[str, Any]], float]) -> float:
    """`figure` of the size's runs, averaged (a size given twice: its two stacks)."""
    values = [figure(r) for r in runs if r["subscriptions"] == size]
    return sum(values) / len(values)


def growth(runs: list[dict[str, Any]]) -> float:
    """Mean cost per event at the largest size over the mean at the smallest."""
    sizes = [r["subscriptions"] for r in runs]
    return round(_mean_at(runs, max(sizes), cost) / _mean_at(runs, min(sizes), cost), 2)


def misses(run: dict[str, Any]) -> float:
    return float(run["cache_misses_per_event"])


def miss_model(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """What a cache miss adds to an event, and the growth once every event misses.

    An event costs what it costs with its entity cached plus, when the entity was
    evicted, what the miss adds (the history fetch and replay). Fitted through the
    smallest and largest sizes; as the population outgrows the cache nearly every event
    misses (1 - cache/N of them), so the growth tends to the figure for all misses. None
    when the two sizes' miss rates are too close to tell the miss's cost from noise.
    """
    sizes = [r["subscriptions"] for r in runs]
    small, large = min(sizes), max(sizes)
    m_small, m_large = _mean_at(runs, small, misses), _mean_at(runs, large, misses)
    if m_large - m_small < MIN_MISS_SPREAD:
        return None
    c_small, c_large = _mean_at(runs, small, cost), _mean_at(runs, large, cost)
    extra = (c_large - c_small) / (m_large - m_small)
    return {"ms_per_miss": round(extra, 1),
            "ms_per_event_cached": round(c_small - m_small * extra, 1),
            "growth_if_every_event_missed": round((c_small + (1 - m_small) * extra) / c_small,
                                                  2)}


async def measure(sizes: list[int], probe: int, cache: int, rounds: int, seed: int,
                  rpc_calls: int = RPC_CALLS) -> dict[str, Any]:
    if len(sizes) > MAX_STACKS:
        raise SystemExit(f"at most {MAX_STACKS} sizes side by side, got {len(sizes)}")
    with contextlib.ExitStack() as stacks:
        pops = [await populate(stacks, i, size, probe, cache, rounds, seed)
                for i, size in enumerate(sizes)]
        for r in range(rounds):
            # A B, then B A: a steady drift over the rounds weighs on every size alike
            for pop in (pops if r % 2 == 0 else pops[::-1]):
                await pop.probe_round(pop.batches[r])
        for pop in pops:
            await pop.time_rpcs(rpc_calls, seed)
        runs = [pop.summary(cache) for pop in pops]
    return {"runs": runs, "cost_growth": growth(runs), "miss_model": miss_model(runs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="200,1000",
                   help="comma-separated subscription counts (e.g. 1000,10000,100000), "
                        f"at most {MAX_STACKS}: their stacks run side by side")
    p.add_argument("--subscriptions", type=int, default=None,
                   help="one size only (same as --sizes N)")
    p.add_argument("--probe-events", type=int, default=300, help="per size, over all rounds")
    p.add_argument("--rounds", type=int, default=2,
                   help="batches the probe is split into, the sizes taking turns")
    p.add_argument("--cache", type=int, default=500,
                   help="the worker's max cached workflows (CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS)")
    p.add_argument("--rpc-calls", type=int, default=RPC_CALLS,
                   help="history fetches (and describes) timed per size after the probe, "
                        "for the server's cost of the request a miss adds (0: skip)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args()
    sizes = ([args.subscriptions] if args.subscriptions
             else [int(s) for s in args.sizes.split(",")])
    result = asyncio.run(measure(sizes, args.probe_events, args.cache, args.rounds, args.seed,
                                 args.rpc_calls))
    report.emit("scale", result, args.json)


if __name__ == "__main__":
    main()
