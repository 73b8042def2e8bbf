"""`starter.py status`: the state of subscription workflows, as a table or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from settings import Settings
from temporal_client import connect
from workflows.subscription import WORKFLOW_ID_PREFIX, SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionView


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="state of subscription workflows")
    p.add_argument("subscription_ids", nargs="*", help="default: every subscription workflow")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=status_command)


async def subscription_ids(client: Client) -> list[str]:
    ids = []
    async for wf in client.list_workflows("WorkflowType = 'SubscriptionWorkflow'"):
        ids.append(wf.id.removeprefix(WORKFLOW_ID_PREFIX))
    return sorted(set(ids))


async def subscription_views(client: Client, ids: Iterable[str]) -> list[SubscriptionView]:
    async def one(sub_id: str) -> SubscriptionView | None:
        try:
            return await client.get_workflow_handle(entity_workflow_id(sub_id)).query(
                SubscriptionWorkflow.state)
        except RPCError:
            return None

    views = await asyncio.gather(*(one(i) for i in ids))
    return [v for v in views if v is not None]


def render(views: list[SubscriptionView]) -> str:
    header = f"{'subscription':<22} {'customer':<22} {'entity':<6} {'state':<18} " \
             f"{'events':>6} {'pending':>7} {'amount due':>16}  notes"
    lines = [header, "-" * len(header)]
    for v in views:
        due = ", ".join(f"{amount} {cur}" for cur, amount in sorted(v.amount_due.items()))
        notes = []
        if v.parked:
            notes.append("PARKED")
        notes += sorted({f.kind for f in v.findings})
        lines.append(f"{v.subscription_id:<22} {v.customer_id or '-':<22} "
                     f"{v.legal_entity or '-':<6} {v.state:<18} {v.events_applied:>6} "
                     f"{len(v.pending):>7} {due or '-':>16}  {' '.join(notes)}")
    return "\n".join(lines)


async def status_command(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    ids = args.subscription_ids or await subscription_ids(client)
    views = await subscription_views(client, ids)
    if args.json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
    else:
        print(render(views))
    return 0
