"""`make demo`: the main job end to end on the embedded default, then stop.

Starts a fresh stack under <data dir>/demo, sends the scenario through
`starter.py send`'s delivery, waits for every subscription to settle, prints the
state table and the trial balance of every legal entity, and exits 0 only if
everything settled and every trial balance balances.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from cli.ledger import fetch_entries, render_trial_balance, trial_balances
from cli.send import deliver, flow_config, read_events
from cli.status import render, subscription_views
from settings import Settings, load_entities
from temporal_client import connect
from workflows.subscription_state import SubscriptionView

from . import stack

SETTLE_TIMEOUT_S = 180.0


def settled(view: SubscriptionView, expected_events: int) -> bool:
    return (view.events_applied >= expected_events and not view.pending and not view.parked
            and not view.busy)


async def wait_settled(client: Client, expected: Counter[str],
                       limit_s: float = SETTLE_TIMEOUT_S) -> tuple[bool, list[SubscriptionView]]:
    deadline = time.monotonic() + limit_s
    while True:
        views = await subscription_views(client, sorted(expected))
        done = len(views) == len(expected) and all(
            settled(v, expected[v.subscription_id]) for v in views)
        if done or time.monotonic() > deadline:
            return done, views
        await asyncio.sleep(0.5)


async def run_demo(settings: Settings, scenario: Path, keep: bool) -> int:
    events, problems = read_events(scenario)
    if problems:
        print("\n".join(problems))
        return 2
    demo = settings.model_copy(update={"data_dir": settings.data_dir / "demo"})
    shutil.rmtree(demo.data_dir, ignore_errors=True)
    print(f"starting a fresh stack under {demo.data_dir} ...", flush=True)
    procs = await asyncio.to_thread(stack.up, demo)
    for p in procs:
        print(f"  {p.name:<10} pid {p.pid:<7} {p.address}")
    secrets, notes = stack.stack_secrets(demo)
    for note in notes:
        print(f"  {note}")
    try:
        client = await connect(demo, secrets)
        started = time.monotonic()
        await deliver(client, events, flow_config(demo))
        expected = Counter(e.subscription_id for e in events)
        print(f"\nsent {len(events)} events for {len(expected)} subscriptions "
              f"from {scenario}; waiting for the flows to settle ...", flush=True)
        ok, views = await wait_settled(client, expected)
        elapsed = time.monotonic() - started
        print(f"\n{'settled' if ok else 'NOT SETTLED'} after {elapsed:.1f}s\n")
        print(render(views) + "\n")
        entries = await fetch_entries(demo)
        tbs = trial_balances(entries, load_entities(demo.entities_file))
        for tb in tbs:
            if tb.rows:
                print(render_trial_balance(tb) + "\n")
        balanced = all(tb.balanced for tb in tbs)
        print(f"Temporal UI: http://{demo.host}:{demo.temporal_ui_port}/namespaces/"
              f"{demo.temporal_namespace}/workflows"
              + ("" if keep else "  (stopped with the demo; `make up` keeps one running)"))
        return 0 if ok and balanced else 1
    finally:
        if not keep:
            await asyncio.to_thread(stack.down, demo)
            print("stopped the demo stack")
