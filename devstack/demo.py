"""`make demo`: the main job end to end on the embedded default, then stop.

Starts a fresh stack under <data dir>/demo (with the flow settings of the scenario's
setup file, examples/demo-setup.json), seeds the sandboxes from that file (payment
outcomes, ERP confirmation delay), sends the scenario through the ingestion gateway (the
canonical events via POST /v1/events, the Stripe part as signed webhooks to
POST /v1/webhooks/stripe, one of them redelivered), waits for every subscription to
settle (flows waiting on a far timer, such as next year's renewal, count as settled),
prints the state table and the flows still waiting, closes the first quarter
(PeriodCloseWorkflow), prints the trial balance and deferred revenue rollforward of every
legal entity, writes the hledger journal and has `hledger check` judge it; exits 0 only
if everything settled, every trial balance balances, every rollforward ties and hledger
accepts the journal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from adapters.erp.sandbox import SandboxErpReader
from adapters.payments.sandbox import SandboxPaymentsAdmin
from canonical.events import Event
from canonical.ledger import JournalEntry
from canonical.reports import deferred_balance, deferred_rollforward
from cli.close import close_input, render, run_close
from cli.ledger import (
    export_text,
    fetch_books,
    fetch_entries,
    render_rollforward,
    render_trial_balance,
    schedule_deferral,
    trial_balances,
)
from cli.send import read_events
from cli.status import render as render_status
from cli.status import subscription_views
from gateway.client import GatewayClient
from settings import Settings, load_entities
from temporal_client import connect
from workflows.subscription_state import SubscriptionView

from . import stack

SETTLE_TIMEOUT_S = 180.0
# A flow waiting on a timer further away than this is settled for the demo's purpose.
SETTLE_HORIZON = dt.timedelta(minutes=10)


def settled(view: SubscriptionView, expected_events: int,
            now: dt.datetime | None = None) -> bool:
    now = now or dt.datetime.now(dt.UTC)
    far = view.next_action_at is None or view.next_action_at > now + SETTLE_HORIZON
    return (view.events_applied >= expected_events and not view.pending and not view.parked
            and not view.busy and far)


async def apply_setup(settings: Settings, setup: dict[str, Any]) -> None:
    """Seed the sandboxes as the scenario needs."""
    async with httpx.AsyncClient(base_url=settings.sandbox_url("payments"), timeout=30) as c:
        payments = SandboxPaymentsAdmin(c)
        for rule in setup.get("payments", []):
            await payments.set_outcome(rule["key"], **{k: v for k, v in rule.items()
                                                       if k != "key"})
    for name, config in setup.get("erp", {}).items():
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=30) as c:
            await SandboxErpReader(c).set_config(**config)


def render_waiting(views: list[SubscriptionView]) -> str:
    lines = ["Flows waiting on a timer:"]
    for v in views:
        for c in v.children:
            until = f"until {c.waiting_until:%Y-%m-%d}" if c.waiting_until else ""
            lines.append(f"  {c.workflow_id:<44} {c.state:<26} {until}")
    return "\n".join(lines) if len(lines) > 1 else "No flows waiting."


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


def read_stripe(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def send_through_gateway(demo: Settings, events: list[Event],
                               stripe: list[dict[str, Any]]) -> Counter[str]:
    """Post the scenario to the gateway; returns canonical events expected per subscription."""
    credentials, _ = stack.gateway_credentials(demo)
    api_key = next(iter(credentials.api_key_map().values()))
    async with httpx.AsyncClient(base_url=stack.gateway_url(demo), timeout=30) as http:
        gateway = GatewayClient(http, api_key, credentials.webhook_secrets()[0])
        results = await gateway.post_events(events)
        accepted = sum(r["accepted"] for r in results)
        print(f"  POST /v1/events: {accepted} canonical events accepted", flush=True)
        mapped: dict[str, set[str]] = defaultdict(set)
        ignored = 0
        for evt in stripe:
            answer = await gateway.post_stripe(evt)
            ignored += answer.get("ignored") is not None
            for e in answer["events"]:
                mapped[e["subscription_id"]].add(e["event_id"])
        if stripe:
            again = await gateway.post_stripe(stripe[0])
            print(f"  POST /v1/webhooks/stripe: {len(stripe)} signed webhooks -> "
                  f"{sum(map(len, mapped.values()))} canonical events, {ignored} ignored; "
                  f"a redelivery of {stripe[0]['id']} answered duplicate={again['duplicate']}",
                  flush=True)
    expected = Counter(e.subscription_id for e in events)
    expected.update({sub: len(ids) for sub, ids in mapped.items()})
    return expected


async def run_demo(settings: Settings, scenario: Path, keep: bool,
                   stripe_scenario: Path | None = None) -> int:
    events, problems = read_events(scenario)
    if problems:
        print("\n".join(problems))
        return 2
    setup_file = scenario.with_name("demo-setup.json")
    setup = json.loads(setup_file.read_text()) if setup_file.exists() else {}
    # The scenario's flow settings (e.g. a one-second dunning "day") reach every process
    # that starts workflows, the gateway's forwarder included, through the settings.
    flow = {**json.loads(settings.flow_config_json or "{}"), **setup.get("flow_config", {})}
    demo = settings.model_copy(update={"data_dir": settings.data_dir / "demo",
                                       "flow_config_json": json.dumps(flow) if flow else None})
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
        await apply_setup(demo, setup)
        started = time.monotonic()
        print(f"\nsending {scenario.name} and {stripe_scenario.name if stripe_scenario else '-'} "
              f"through the gateway at {stack.gateway_url(demo)} ...", flush=True)
        expected = await send_through_gateway(demo, events, read_stripe(stripe_scenario))
        print(f"sent {sum(expected.values())} events for {len(expected)} subscriptions; "
              "waiting for the flows to settle ...", flush=True)
        ok, views = await wait_settled(client, expected)
        elapsed = time.monotonic() - started
        print(f"\n{'settled' if ok else 'NOT SETTLED'} after {elapsed:.1f}s\n")
        print(render_status(views) + "\n")
        print(render_waiting(views) + "\n")
        closed = await close_periods(client, demo)
        entries = await fetch_entries(demo)
        tbs = trial_balances(entries, load_entities(demo.entities_file))
        for tb in tbs:
            if tb.rows:
                print(render_trial_balance(tb) + "\n")
        balanced = all(tb.balanced for tb in tbs)
        ties = await report_rollforward(demo, CLOSE_PERIODS[-1])
        checked = await asyncio.to_thread(export_and_check, entries, demo)
        print(f"Temporal UI: http://{demo.host}:{demo.temporal_ui_port}/namespaces/"
              f"{demo.temporal_namespace}/workflows"
              + ("" if keep else "  (stopped with the demo; `make up` keeps one running)"))
        return 0 if ok and balanced and closed and ties and checked else 1
    finally:
        if not keep:
            await asyncio.to_thread(stack.down, demo)
            print("stopped the demo stack")


# The demo closes its first quarter: recognition journals, then each period is locked.
CLOSE_PERIODS = ("2026-01", "2026-02", "2026-03")


async def close_periods(client: Client, demo: Settings) -> bool:
    """Run PeriodCloseWorkflow for each demo period, as `starter.py close` does."""
    ok = True
    for period in CLOSE_PERIODS:
        result = await run_close(client, close_input(demo, period, None))
        print(render(result) + "\n")
        ok = ok and all(e.skipped is None for e in result.entities)
    return ok


async def report_rollforward(demo: Settings, period: str) -> bool:
    """Print every entity's deferred revenue rollforward; True if all of them tie."""
    entries, _, schedules = await fetch_books(demo)
    ok = True
    for tb_entity in sorted(load_entities(demo.entities_file).values(), key=lambda e: e.code):
        if not any(e.legal_entity == tb_entity.code for e in entries):
            continue
        rf = deferred_rollforward(entries, tb_entity.chart, period)
        per_schedules = schedule_deferral(schedules, tb_entity)
        now = deferred_balance(entries, tb_entity.chart)
        print(render_rollforward(rf, per_schedules, now) + "\n")
        ok = ok and rf.ties and per_schedules == now
    return ok


def export_and_check(entries: list[JournalEntry], demo: Settings) -> bool:
    """Write the hledger journal (and beancount file) and let `hledger check` judge it."""
    entities = load_entities(demo.entities_file)
    journal = (demo.data_dir / "ledger.journal").resolve()
    journal.write_text(export_text(entries, entities, "hledger"))
    (demo.data_dir / "ledger.beancount").write_text(export_text(entries, entities, "beancount"))
    hledger = shutil.which("hledger")
    if hledger is None:
        print(f"hledger journal: {journal} (hledger not installed: `apt-get install hledger` "
              "to check it)")
        return True
    done = subprocess.run([hledger, "-f", str(journal), "check", "-s", "ordereddates"],
                          capture_output=True, text=True, timeout=120)
    verdict = "accepted by `hledger check -s ordereddates`" if done.returncode == 0 \
        else f"REJECTED by hledger check:\n{done.stderr}"
    print(f"hledger journal: {journal} ({len(entries)} entries) {verdict}")
    return done.returncode == 0
