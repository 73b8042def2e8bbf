"""`starter.py send FILE`: validate a JSON-lines file of canonical events and deliver it.

Every line is validated first; a file with any invalid line is refused whole (with
the line number and field path of every problem) unless --skip-invalid is given.
Delivery is signal-with-start on `subscription-{id}`, so the order of lines per
subscription is kept and a resend is harmless (duplicates are dropped by event id).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from temporalio.client import Client

from canonical.events import Event
from canonical.schemas import InvalidEventError, parse_event
from settings import Settings
from temporal_client import connect
from workflows.config import CODE_VERSION, FlowConfig
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionInput


def register(sub: Any) -> None:
    p = sub.add_parser("send", help="send canonical events from a JSON-lines file")
    p.add_argument("file", type=Path)
    p.add_argument("--skip-invalid", action="store_true",
                   help="send the valid lines even if some are invalid")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--via", choices=["temporal", "gateway"], default="temporal",
                   help="signal Temporal directly (default) or POST to the gateway's "
                        "/v1/events with the first key of CASHLOOP_API_KEYS")
    p.set_defaults(func=send_command)


def read_events(path: Path) -> tuple[list[Event], list[str]]:
    """Parsed events and one message per invalid line (line number, path, problem)."""
    events: list[Event] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            events.append(parse_event(line))
        except InvalidEventError as err:
            details = "; ".join(f"{e['path'] or '<event>'}: {e['message']}" for e in err.errors)
            problems.append(f"{path}:{number}: {err.message}: {details}")
    return events, problems


# A deployment's entities continue as new after an hour without work (FlowConfig);
# CASHLOOP_FLOW_CONFIG_JSON='{"idle_continue_as_new_s": null}' turns it off.
IDLE_CONTINUE_AS_NEW_S = 3600.0


def flow_config(settings: Settings) -> FlowConfig:
    """The FlowConfig new subscription workflows start with, from settings/environment."""
    overrides: dict[str, Any] = {"task_queue": settings.task_queue,
                                 "erp_task_queue": settings.erp_task_queue,
                                 "code_version": CODE_VERSION,
                                 "idle_continue_as_new_s": IDLE_CONTINUE_AS_NEW_S,
                                 "close_written_off_upstream":
                                     settings.billing_connector != "none",
                                 "close_upstream_sources": settings.billing_connector_sources}
    raw = settings.flow_config_json
    if raw:
        overrides.update(json.loads(raw))
    return FlowConfig(**overrides)


async def deliver(client: Client, events: list[Event], config: FlowConfig,
                  concurrency: int = 16) -> None:
    """Signal-with-start every event, in file order per subscription."""
    by_subscription: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_subscription[event.subscription_id].append(event)
    limit = asyncio.Semaphore(concurrency)

    async def one_subscription(subscription_id: str, evs: list[Event]) -> None:
        async with limit:
            for event in evs:
                await client.start_workflow(
                    SubscriptionWorkflow.run,
                    SubscriptionInput(subscription_id=subscription_id, config=config),
                    id=entity_workflow_id(subscription_id), task_queue=config.task_queue,
                    start_signal="submit", start_signal_args=[event])

    await asyncio.gather(*(one_subscription(s, e) for s, e in by_subscription.items()))


async def send_command(args: argparse.Namespace, settings: Settings) -> int:
    events, problems = read_events(args.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems and not args.skip_invalid:
        print(f"refused: {len(problems)} invalid line(s); nothing sent", file=sys.stderr)
        return 2
    if args.via == "gateway":
        return await _send_via_gateway(events, settings, 1 if problems else 0)
    client = await connect(settings)
    await deliver(client, events, flow_config(settings), args.concurrency)
    subs = len({e.subscription_id for e in events})
    print(f"sent {len(events)} events for {subs} subscriptions")
    return 1 if problems else 0


async def _send_via_gateway(events: list[Event], settings: Settings, code: int) -> int:
    import httpx

    from gateway.client import GatewayClient, GatewayError

    keys = settings.api_key_map()
    if not keys:
        print("--via gateway needs CASHLOOP_API_KEYS (source:key)", file=sys.stderr)
        return 2
    url = f"http://{settings.host}:{settings.gateway_port}"
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        try:
            results = await GatewayClient(http, next(iter(keys.values()))).post_events(events)
        except (GatewayError, httpx.HTTPError) as exc:
            print(f"refused by the gateway at {url}: {exc}", file=sys.stderr)
            return 2
    fresh = sum(r["accepted"] for r in results)
    print(f"sent {len(events)} events to {url}: {fresh} accepted, "
          f"{len(events) - fresh} duplicates")
    return code
