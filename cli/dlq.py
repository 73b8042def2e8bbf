"""`starter.py dlq list|show|replay|exceptions`: the gateway's dead letters and exception items.

Works on the gateway's store directly (settings.store_url("gateway")), so it also works
while the gateway is down. `replay` re-runs the current mapping on each open dead letter
(e.g. after a mapping fix or a customer-map entry); what now maps goes into the inbox and
is forwarded — by this command at once when Temporal answers, else by the gateway's
forwarder. Every attempt is appended to the letter's history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from gateway import dlq, postvalidation
from gateway.forwarder import Forwarder
from gateway.inbox import StoreRoutes
from gateway.service import NoRoutes
from gateway.sources.base import Category, Mapper
from gateway.sources.canonical import CanonicalMapper
from gateway.sources.customers import CustomerMap
from gateway.sources.settlements import SettlementMapper
from gateway.sources.stripe import StripeMapper
from gateway.store import open_store
from settings import Settings, load_entities


def register(sub: Any) -> None:
    p = sub.add_parser("dlq", help="dead letters of the gateway: list, show, replay")
    cmds = p.add_subparsers(dest="dlq_command", required=True)
    ls = cmds.add_parser("list", help="dead letters, oldest first")
    ls.add_argument("--category", choices=Category.ALL)
    ls.add_argument("--status", default="open",
                    choices=["open", "replayed", "superseded", "all"])
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_command)
    show = cmds.add_parser("show", help="one dead letter with its raw body and history")
    show.add_argument("id", type=int)
    show.set_defaults(func=show_command)
    rp = cmds.add_parser("replay", help="re-map open dead letters and forward what now maps")
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument("--category", choices=Category.ALL)
    which.add_argument("ids", nargs="*", type=int, default=[])
    rp.add_argument("--no-forward", action="store_true",
                    help="only queue in the inbox; the gateway's forwarder sends it")
    rp.set_defaults(func=replay_command)
    ex = cmds.add_parser("exceptions", help="post-validations that failed (exception items)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=exceptions_command)


def mappers(settings: Settings) -> dict[str, Mapper]:
    return {"events": CanonicalMapper(),
            "stripe": StripeMapper(CustomerMap(settings.stripe_customers_file)),
            "settlements": SettlementMapper(load_entities(settings.entities_file))}


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings.store_url("gateway"))
    status = None if args.status == "all" else args.status
    letters = dlq.find(engine, category=args.category, status=status)
    if args.json:
        print(json.dumps([dlq.as_json(x) for x in letters], indent=2))
        return 0
    print(f"{'id':>5}  {'received':<20} {'channel':<8} {'category':<20} {'status':<10} "
          "source event / reason")
    for x in letters:
        print(f"{x.id:>5}  {x.received_at:%Y-%m-%d %H:%M:%S}  {x.channel:<8} "
              f"{x.category:<20} {x.status:<10} {x.source_event_id or '-'}: "
              f"{x.reason.get('message', '')[:70]}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def show_command(args: argparse.Namespace, settings: Settings) -> int:
    letter = dlq.get(open_store(settings.store_url("gateway")), args.id)
    if letter is None:
        print(f"no dead letter {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(dlq.as_json(letter, with_body=True), indent=2))
    return 0


async def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings.store_url("gateway"))
    letters = dlq.find(engine, category=args.category, status="open", ids=args.ids)
    missing = set(args.ids) - {x.id for x in letters}
    for letter_id in sorted(missing):
        print(f"{letter_id}: not an open dead letter; skipped")
    routes = {"stripe": StoreRoutes(engine, "stripe")}
    outcomes = dlq.replay(engine, mappers(settings), letters,
                          lambda channel: routes.get(channel) or NoRoutes())
    for o in outcomes:
        print(f"{o.dead_letter_id}: {o.outcome}: {o.detail}"
              + (f" (inbox #{o.inbox_id})" if o.inbox_id else ""))
    replayed = sum(o.outcome == "replayed" for o in outcomes)
    print(f"replayed {replayed} of {len(outcomes)} dead letter(s)")
    if replayed and not args.no_forward:
        await _forward(engine, settings)
    ok = all(o.outcome in ("replayed", "duplicate") for o in outcomes)
    return 0 if ok and not missing else 1


async def _forward(engine: Any, settings: Settings) -> None:
    from cli.send import flow_config
    from temporal_client import connect

    forwarder = Forwarder(engine, lambda: connect(settings), flow_config(settings))
    try:
        sent = await asyncio.wait_for(forwarder.drain_once(), timeout=30)
    except Exception as exc:
        print(f"not forwarded now ({type(exc).__name__}); the gateway's forwarder will "
              "deliver the queued events")
        return
    print(f"forwarded {sent} canonical event(s) to Temporal")


def exceptions_command(args: argparse.Namespace, settings: Settings) -> int:
    rows = postvalidation.find(open_store(settings.store_url("gateway")), "exception")
    if args.json:
        print(json.dumps([{"id": r.id, "kind": r.kind, "created_at": r.created_at.isoformat(),
                           "request": r.request, "provisional": r.provisional,
                           "detail": r.detail} for r in rows], indent=2))
        return 0
    for r in rows:
        print(f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.kind:<10} provisional "
              f"answer contradicted: {json.dumps(r.detail)[:100]}")
    print(f"{len(rows)} exception item(s)")
    return 0
