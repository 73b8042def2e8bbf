"""Chaos drill: the mixed stream through the real path under faults must leave the same books
as a clean run of the same stream — nothing lost, nothing doubled, nothing different.

    python -m bench.chaos [--events 10000] [--json]

Two private stacks (what `make up` starts: Temporal dev server on a SQLite file, sandbox
systems, gateway, worker), one after the other:
1. clean: the stream (bench/mixed.py) posted to the gateway in order, once;
2. chaos: the same stream with 30 % of the events delivered twice (half of the repeats
   through the gateway, half straight to Temporal like `starter.py send`), shuffled within
   windows (bench/delivery.py: within what the entity's sequence gap wait promises),
   paced at the clean run's rate, while the worker is SIGKILLed and restarted 5 times,
   the Temporal dev server is stopped and restarted once on the same SQLite file
   (bench/mayhem.py), and both ERP sandboxes answer 20 % of calls with 500, 503, 429 or a
   hang then 504 — half of those after committing the posting (CASHLOOP_FAULTS_ERP_*).
When both have settled, the ERP documents by idempotency key, their journal entries,
the revenue schedules and the trial balances are compared (bench/books.py). Prints
`lost=0 doubled=0 mismatched=0` or the differences, writes bench/results/chaos-<date>.json
and exits 1 on any difference (2 if a run did not settle).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.books import Books, compare, fetch_books  # noqa: E402
from bench.delivery import (  # noqa: E402
    Delivery,
    Sender,
    chaos_plan,
    max_displacement,
    out_of_order,
)
from bench.harness import (  # noqa: E402
    BENCH_PORTS,
    StackControl,
    bench_settings,
    ports_from,
    running_stack,
)
from bench.mayhem import Mayhem, schedule  # noqa: E402
from bench.mixed import Mix, subscription  # noqa: E402
from bench.settle import Settled, await_settled, erp_postings  # noqa: E402
from devstack.processes import Proc  # noqa: E402
from devstack.streams import Lifecycle  # noqa: E402
from settings import ERP_TARGETS, PROJECT_ROOT, Settings, load_entities  # noqa: E402
from temporal_client import connect  # noqa: E402

ENTITIES = load_entities(PROJECT_ROOT / "config" / "entities.toml")
RESULTS = Path(__file__).resolve().parent / "results"
# The clean stack's layout starts this far above the chaos stack's (by default the
# benchmarks' layout, above the ephemeral port range: bench/harness.BENCH_PORTS); a layout
# spans 2,232 ports, so both fit below 65535.
CLEAN_OFFSET = 2000
# The mixed stream with service credits and refunds too: documents applied in any order.
CHAOS_MIX = Mix(credit=0.2)


def lifecycles(events: int, seed: int) -> list[Lifecycle]:
    """Subscriptions of the mixed stream (same seed, same stream) until `events` are reached."""
    rnd, today = random.Random(seed), dt.datetime.now(dt.UTC).date()
    lives: list[Lifecycle] = []
    total = 0
    while total < events:
        lives.append(subscription(len(lives), rnd, CHAOS_MIX, today))
        total += len(lives[-1].events)
    return lives


@dataclass
class Run:
    books: Books
    seconds: float
    settled: Settled
    extra: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 1), "erp_documents": len(self.books.documents),
                "schedules": len(self.books.schedules), "parked": self.settled.parked,
                "findings": self.settled.findings(), **self.extra}


def flow_settings(args: argparse.Namespace) -> str:
    return json.dumps({"day_seconds": args.dunning_day_s})


def erp_faults(args: argparse.Namespace) -> dict[str, str]:
    faults = {"error_rate": args.erp_fault_rate, "error_kinds": ["500", "503", "429", "timeout"],
              "error_phase": "mixed", "hang_ms": 2000, "seed": args.seed}
    return {f"CASHLOOP_FAULTS_{name.upper().replace('-', '_')}": json.dumps(faults)
            for name in ERP_TARGETS}


async def erp_stats(settings: Settings) -> dict[str, Any]:
    keys = ("requests", "faults_injected", "rate_limited", "postings_created", "duplicates",
            "batch_calls")
    out = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for name in ERP_TARGETS:
            stats = (await http.get(f"{settings.sandbox_url(name)}/_admin/stats")).json()
            out[name] = {k: stats.get(k, 0) for k in keys}
    return out


async def erp_faults_off(settings: Settings) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for name in ERP_TARGETS:
            (await http.put(f"{settings.sandbox_url(name)}/_admin/faults",
                            json={"error_rate": 0})).raise_for_status()


async def clean_run(lives: list[Lifecycle], args: argparse.Namespace,
                    ports: dict[str, int]) -> Run:
    events = [e for life in lives for e in life.events]
    settings = bench_settings(flow_config_json=flow_settings(args), **ports)
    began = time.time()
    async with stack_running(settings, {}, args.keep):
        client = await connect(settings)
        sender = Sender(settings, client, chunk=500)
        await sender.send([Delivery(e) for e in events], rate=None)
        settled = await await_settled(settings, client, expected(lives), args.settle_timeout)
        seconds = time.time() - sender.started_at
        books = await fetch_books(settings, ENTITIES)
        extra = {"stack_start_s": round(sender.started_at - began, 1),
                 "erp": await erp_stats(settings),
                 **({"data_dir": str(settings.data_dir)} if args.keep else {})}
    return Run(books, seconds, settled, extra)


async def chaos_run(lives: list[Lifecycle], args: argparse.Namespace, ports: dict[str, int],
                    clean: Run | None) -> Run:
    """The drilled run; with the clean run done first, its pace and progress guide the
    faults, else (--together) they come at random times within --fault-window-s."""
    rnd = random.Random(args.seed)
    events = [e for life in lives for e in life.events]
    plan = chaos_plan(events, rnd, args.duplicates, args.window)
    rate = args.rate or (len(events) / max(clean.seconds, 1.0) if clean else None)
    settings = bench_settings(flow_config_json=flow_settings(args), **ports)
    env = erp_faults(args)
    began = time.time()
    async with stack_running(settings, env, args.keep) as procs:
        client = await connect(settings)

        async def progress() -> float:
            return await erp_postings(settings) / len(clean.books.documents) if clean else 0.0

        mayhem = Mayhem(StackControl(settings, procs, env), progress, rnd,
                        server_down_s=args.server_down_s, server_signal=args.server_signal)
        sender = Sender(settings, client)
        # faults that progress never reaches fire anyway, by twice the clean run's time
        faults = schedule(rnd, args.kills, args.restarts, args.fault_span)
        await asyncio.gather(sender.send(plan, rate), mayhem.run(
            faults, deadline_s=2 * clean.seconds + 30 if clean else args.fault_window_s))
        sent_and_faulted = time.time() - sender.started_at
        settled = await await_settled(settings, client, expected(lives), args.settle_timeout)
        seconds = time.time() - sender.started_at
        stats = await erp_stats(settings)
        await erp_faults_off(settings)  # the reads of the books are not part of the drill
        books = await fetch_books(settings, ENTITIES)
        extra = {
            "deliveries": len(plan), "repeats": sum(d.repeat for d in plan),
            "repeats_direct_to_temporal": sum(d.channel == "temporal" for d in plan),
            "out_of_order": out_of_order(plan), "max_displacement": max_displacement(events, plan),
            "window": args.window, "rate_per_s": None if rate is None else round(rate, 1),
            "stack_start_s": round(sender.started_at - began, 1),
            "sent_and_faulted_s": round(sent_and_faulted, 1),
            "gateway": {"accepted": sender.accepted, "duplicates": sender.duplicates},
            "direct_retries": sender.direct_retries, "faults": mayhem.report(),
            "erp": stats,
            **({"data_dir": str(settings.data_dir)} if args.keep else {})}
    return Run(books, seconds, settled, extra)


@contextlib.asynccontextmanager
async def stack_running(settings: Settings, env: dict[str, str],
                        keep: bool) -> AsyncIterator[list[Proc]]:
    """`running_stack` off the event loop, so two runs can start and work side by side."""
    stack = running_stack(settings, extra_env=env, keep=keep)
    procs = await asyncio.to_thread(stack.__enter__)
    try:
        yield procs
    finally:
        await asyncio.to_thread(stack.__exit__, None, None, None)


def expected(lives: list[Lifecycle]) -> dict[str, int]:
    return {life.subscription_id: len(life.events) for life in lives}


async def drill(args: argparse.Namespace, chaos_ports: dict[str, int],
                clean_ports: dict[str, int]) -> dict[str, Any]:
    """Both runs and their comparison, as one result (what --json prints)."""
    lives = lifecycles(args.events, args.seed)
    events = sum(len(life.events) for life in lives)
    if args.together:
        clean, chaos = await asyncio.gather(clean_run(lives, args, clean_ports),
                                            chaos_run(lives, args, chaos_ports, None))
    else:
        clean = await clean_run(lives, args, clean_ports)
        chaos = await chaos_run(lives, args, chaos_ports, clean)
    diff = compare(clean.books, chaos.books)
    problems = [f"parked: {s} ({run.settled.parked_why.get(s, '?')})"
                for run in (chaos, clean) for s in run.settled.parked]
    return {"events": events, "subscriptions": len(lives), "seed": args.seed,
            "kills": args.kills, "server_restarts": args.restarts,
            "erp_fault_rate": args.erp_fault_rate, "duplicates": args.duplicates,
            "clean": clean.summary(), "chaos": chaos.summary(),
            "result": diff.summary(), "ok": diff.ok and not problems,
            "differences": diff.as_json(), "listing": diff.listing() + problems}


def span(text: str) -> tuple[float, float]:
    low, high = (float(x) for x in text.split(","))
    if not 0 <= low <= high <= 1:
        raise argparse.ArgumentTypeError("FROM,TO with 0 <= FROM <= TO <= 1")
    return low, high


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=10_000, help="events in the stream")
    p.add_argument("--seed", type=int, default=7, help="stream, plan and fault draws")
    p.add_argument("--duplicates", type=float, default=0.3, help="share delivered twice")
    p.add_argument("--window", type=int, default=500, help="deliveries shuffled together")
    p.add_argument("--kills", type=int, default=5, help="worker SIGKILLs")
    p.add_argument("--restarts", type=int, default=1, help="Temporal dev server restarts")
    p.add_argument("--server-down-s", type=float, default=10.0)
    p.add_argument("--server-signal", choices=("term", "kill"), default="term",
                   help="how the server is stopped (SIGTERM, or SIGKILL)")
    p.add_argument("--erp-fault-rate", type=float, default=0.2)
    p.add_argument("--rate", type=float, default=None,
                   help="chaos deliveries per second (default: the clean run's events/s)")
    p.add_argument("--dunning-day-s", type=float, default=0.2,
                   help="length of a dunning 'day', so ladders finish within the run")
    p.add_argument("--settle-timeout", type=float, default=3600.0)
    p.add_argument("--together", action="store_true",
                   help="run the clean stack alongside the drilled one (faster, noisier); "
                        "faults then come at random times within --fault-window-s")
    p.add_argument("--fault-window-s", type=float, default=60.0)
    p.add_argument("--fault-span", type=span, default=(0.05, 0.9),
                   help="where in the run faults may fall, as FROM,TO shares (default "
                        "0.05,0.9 of the progress, or of --fault-window-s with --together)")
    p.add_argument("--temporal-port", type=int, default=BENCH_PORTS["temporal_port"],
                   help="the chaos stack's Temporal port; its other ports and the clean "
                        f"stack's (+{CLEAN_OFFSET}) are laid out from it "
                        "(bench/harness.ports_from)")
    p.add_argument("--keep", action="store_true", help="keep both stacks' data dirs")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return p


def emit(result: dict[str, Any], as_json: bool) -> Path:
    now = dt.datetime.now(dt.UTC)
    result = {"benchmark": "chaos", "at": now.isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              **result}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"chaos-{now.date().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    c, k = result["clean"], result["chaos"]
    print(f"{result['events']} events, {result['subscriptions']} subscriptions; clean run "
          f"{c['seconds']} s, chaos run {k['seconds']} s ({k['repeats']} repeats, "
          f"{k['out_of_order']} out of order, {len(k['faults'])} process faults, "
          f"{sum(e['faults_injected'] for e in k['erp'].values())} ERP faults)")
    for line in result["listing"]:
        print(line)
    print(result["result"])
    if as_json:
        print(json.dumps(result))
    return path


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    chaos_ports = ports_from(args.temporal_port)
    clean_ports = ports_from(args.temporal_port + CLEAN_OFFSET)
    try:
        result = asyncio.run(drill(args, chaos_ports, clean_ports))
    except TimeoutError as exc:
        print(f"did not settle: {exc}", file=sys.stderr)
        return 2
    emit(result, args.json)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
