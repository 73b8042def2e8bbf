"""An invoice run: N invoice events at once against a rate-limited ERP, and its drain time.

    python -m bench.burst [--events 2000] [--subscriptions 500] [--erp-rps 25] [--json]

Starts a private stack whose two ERP sandboxes admit R requests/s (token bucket) and 5
requests in flight, answering 429 beyond that, like a NetSuite standard account; the
worker's ERP batchers pace their calls under the same limits and post up to 100
documents per call. Untimed set-up: the subscriptions are activated and settled. Then the
burst: every invoice event is posted to the gateway at once, and the clock stops at the
last invoice the ERPs confirm. In the same run the naive baseline (one workflow per event,
three trivial activities) measures what the server does per event without batching.

Prints intake time, drain time, ERP calls, 429 answers and
bound = max(N / (batch x R), N / naive events/s); target drain <= 1.25 x bound.
Writes bench/results/burst-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import time
from typing import Any

import httpx

from adapters.sandbox.client import SandboxAdminClient
from bench import report
from bench.harness import bench_settings, naive_baseline, pid_of, running_stack
from bench.probe import await_documents, await_settled, last_created, post_all, progress
from bench.procstat import CpuMeter
from devstack import streams
from settings import ERP_TARGETS, Settings
from temporal_client import connect

WHERE = ("US", "US-NY", "DE", "FR", "JP")


def invoice_run(subscriptions: int, events: int, today: dt.date
                ) -> tuple[list[streams.Lifecycle], list[Any]]:
    """Activated subscriptions, and `events` monthly invoices spread over them."""
    lives = []
    for i in range(subscriptions):
        cust = streams.customer(f"ucus{i:06d}", WHERE[i % len(WHERE)])
        lives.append(streams.lifecycle(f"usub{i:06d}", cust, streams.add_months(today, -12))
                     .activate())
    burst = []
    for n in range(events):
        life = lives[n % subscriptions]
        month = n // subscriptions
        start = streams.add_months(life.subscription.term_start, month)
        life.invoice(f"uin{n:07d}", start, streams.add_months(start, 1))
        burst.append(life.events[-1])
    return lives, burst


async def erp_stats(settings: Settings) -> dict[str, int]:
    totals = {"requests": 0, "rate_limited": 0}
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=30) as c:
            stats = await SandboxAdminClient(c, "erp").stats()
        totals["requests"] += stats.get("requests", 0)
        totals["rate_limited"] += stats.get("rate_limited", 0)
    return totals


async def measure(events: int, subscriptions: int, rps: float, concurrency: int,
                  batch: int) -> dict[str, object]:
    lives, burst = invoice_run(subscriptions, events, dt.datetime.now(dt.UTC).date())
    limits = json.dumps({"rps_limit": rps, "max_concurrency": concurrency})
    for name in ERP_TARGETS:  # read by the sandbox process the stack starts
        os.environ[f"CASHLOOP_FAULTS_{name.upper().replace('-', '_')}"] = limits
    settings = bench_settings(erp_max_rps=rps, erp_max_concurrency=concurrency,
                              erp_max_batch=batch,
                              flow_config_json=json.dumps({"renewals_enabled": False}))
    with running_stack(settings) as procs:
        client = await connect(settings)
        meter = CpuMeter({name: pid_of(procs, name)
                          for name in ("temporal", "worker", "gateway", "sandboxes")})
        naive_s, naive_cpu = await naive_baseline(settings, meter, events)
        progress(f"activating {subscriptions} subscriptions (untimed)")
        activations = [life.events[0] for life in lives]
        await post_all(settings, activations)
        await await_documents(settings, {report.document_of(e) or "" for e in activations},
                              poll_s=5.0)
        for life in lives:  # then settle on the activation alone (one round of queries)
            life.events = life.events[:1]
        await await_settled(client, lives, poll_s=5.0)
        before = await erp_stats(settings)

        progress(f"burst: {events} invoice events")
        meter.start()
        started = time.time()
        await post_all(settings, burst)
        intake_s = time.time() - started
        invoices = {f"inv:{e.payload.invoice.invoice_id}" for e in burst}
        last = last_created(await await_documents(settings, invoices), invoices)
        cpu = meter.stop()
        after = await erp_stats(settings)
    drain_s = last - started
    naive_eps = events / naive_s
    bound = max(events / (batch * rps), events / naive_eps)
    return {
        "events": events, "subscriptions": subscriptions,
        "erp": {"rps_limit": rps, "max_concurrency": concurrency, "batch": batch},
        "naive": {"seconds": round(naive_s, 1), "events_per_s": round(naive_eps, 1),
                  "cpu_ms_per_event": report.per_event(naive_cpu, events)},
        "intake_s": round(intake_s, 1), "drain_s": round(drain_s, 1),
        "events_per_s": round(events / drain_s, 1),
        "erp_calls": after["requests"] - before["requests"],
        "erp_429": after["rate_limited"] - before["rate_limited"],
        "bound_s": round(bound, 1), "drain_over_bound": round(drain_s / bound, 2),
        "cpu_ms_per_event": report.per_event(cpu, events),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=2000, help="invoices in the run")
    p.add_argument("--subscriptions", type=int, default=None,
                   help="subscriptions they spread over (default: events / 4)")
    p.add_argument("--erp-rps", type=float, default=25.0)
    p.add_argument("--erp-concurrency", type=int, default=5)
    p.add_argument("--erp-batch", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args()
    subs = args.subscriptions or max(1, args.events // 4)
    result = asyncio.run(measure(args.events, subs, args.erp_rps, args.erp_concurrency,
                                 args.erp_batch))
    report.emit("burst", result, args.json)


if __name__ == "__main__":
    main()
