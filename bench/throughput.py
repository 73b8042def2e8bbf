"""Throughput of the real path against a naive Temporal integration, on the same server.

    python -m bench.throughput [--subscriptions 1000] [--json]

Starts a private stack (what `make up` starts, on its own ports and data dir), then:
1. the naive baseline: one workflow per event running three trivial activities, as many
   workflows as Cashloop will get events, all started at once;
2. Cashloop: the mixed stream (bench/mixed.py) posted to the gateway as fast as it takes
   it; the clock stops at the last ERP posting once every subscription has settled.
Prints events/s of both and the ratio (target >= 1.5), per-event latency (accepted by the
gateway -> posted in the ERP), activities and workflow tasks per event (from the worker's
SDK metrics) and CPU seconds per event of the server, worker, gateway and sandboxes.
Writes bench/results/throughput-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench import report
from bench.harness import bench_settings, naive_baseline, pid_of, running_stack
from bench.mixed import Mix, events_of, stream
from bench.probe import (
    SdkCounters,
    await_documents,
    await_settled,
    erp_documents,
    post_all,
    progress,
)
from bench.procstat import CpuMeter
from temporal_client import connect


async def measure(subscriptions: int, seed: int, naive_events: int | None,
                  dunning_day_s: float, cache: int) -> dict[str, object]:
    lives = stream(subscriptions, seed, Mix())
    events = events_of(lives)
    # The ERP sandboxes take what they get here (their rate limit is bench/burst.py's
    # subject), so the worker's ERP batchers are not held to the default 25 calls/s.
    settings = bench_settings(flow_config_json=json.dumps({"day_seconds": dunning_day_s}),
                              erp_max_rps=1000.0, erp_max_concurrency=20,
                              worker_max_cached_workflows=cache)
    with running_stack(settings) as procs:
        client = await connect(settings)
        meter = CpuMeter({name: pid_of(procs, name)
                          for name in ("temporal", "worker", "gateway", "sandboxes")})
        naive_n = naive_events or len(events)
        naive_s, naive_cpu = await naive_baseline(settings, meter, naive_n)

        sdk = SdkCounters(settings)
        before = await sdk.read()
        meter.start()
        started = time.time()
        progress(f"cashloop: {len(events)} events of {subscriptions} subscriptions")
        accepted_at = await post_all(settings, events)
        progress("all accepted by the gateway")
        await await_documents(settings, {d for e in events if (d := report.document_of(e))})
        # measured up to here: the settle check below queries every entity, which is the
        # benchmark's own load on the server, not Cashloop's
        cpu = meter.stop()
        after = await sdk.read()
        views = await await_settled(client, lives, poll_s=5.0)
        docs = await erp_documents(settings)
    last_posting = max(d.created_at.timestamp() for d in docs.values() if d.created_at)
    cashloop_s = last_posting - started
    latencies = report.latencies(lives, accepted_at, docs)
    per_event = {k: round((after.get(k, 0) - before.get(k, 0)) / len(events), 2)
                 for k in SdkCounters.COUNTERS}
    naive_eps = naive_n / naive_s
    cashloop_eps = len(events) / cashloop_s
    return {
        "subscriptions": subscriptions, "events": len(events), "seed": seed,
        "worker_cache": cache,
        "naive": {"events": naive_n, "seconds": round(naive_s, 1),
                  "events_per_s": round(naive_eps, 1),
                  "cpu_s_per_event": report.per_event(naive_cpu, naive_n)},
        "cashloop": {"seconds": round(cashloop_s, 1), "events_per_s": round(cashloop_eps, 1),
                     "latency_ms": latencies, "per_event": per_event,
                     "cpu_s_per_event": report.per_event(cpu, len(events)),
                     "settled": sum(1 for v in views if v is not None),
                     "erp_documents": len(docs)},
        "ratio": round(cashloop_eps / naive_eps, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscriptions", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--naive-events", type=int, default=None,
                   help="workflows of the baseline (default: as many as Cashloop's events)")
    p.add_argument("--dunning-day-s", type=float, default=0.2,
                   help="length of a dunning 'day', so ladders finish within the run")
    p.add_argument("--cache", type=int, default=6000,
                   help="the worker's workflow cache: at least the workflows in flight, or "
                        "evicted ones are replayed (TEMPORAL-NOTES)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args()
    result = asyncio.run(measure(args.subscriptions, args.seed, args.naive_events,
                                 args.dunning_day_s, args.cache))
    report.emit("throughput", result, args.json)


if __name__ == "__main__":
    main()
