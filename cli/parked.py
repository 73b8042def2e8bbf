"""`starter.py parked list|retry|skip`: the dead-letter queue, worked in bulk.

A flow whose step failed for good parks (PostingStatus=parked, or compensated after
a saga unwound) and waits for an operator. These commands find parked flows with a
Temporal visibility query (ANDed with "running and parked") and release them: `retry`
runs the parked step again (optionally with corrected input, a JSON object),
`skip` gives it up with a reason that stays in the flow's audit trail.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from settings import Settings
from temporal_client import connect
from workflows.flow import ParkedStep, RetryInput, SkipInput

PARKED = "ExecutionStatus = 'Running' AND PostingStatus IN ('parked', 'compensated')"


@dataclass
class ParkedFlow:
    workflow_id: str
    workflow_type: str
    step: ParkedStep


def register(sub: Any) -> None:
    p = sub.add_parser("parked", help="list and release parked flows (the dead-letter queue)")
    psub = p.add_subparsers(dest="parked_command", required=True)
    lst = psub.add_parser("list", help="parked flows")
    lst.add_argument("--query", default="", help="visibility query to narrow the list, e.g. "
                     "\"O2CFlow = 'amendment'\"")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_command)
    retry = psub.add_parser("retry", help="run the parked step again")
    retry.add_argument("--query", required=True, help="which parked flows (visibility query)")
    retry.add_argument("--corrected", type=json.loads, default=None,
                       help="JSON object of corrected input for the step")
    retry.add_argument("--note", default="")
    retry.add_argument("--operator", default="")
    retry.add_argument("--dry-run", action="store_true")
    retry.set_defaults(func=release_command, action="retry")
    skip = psub.add_parser("skip", help="give the parked step up, with a reason")
    skip.add_argument("--query", required=True, help="which parked flows (visibility query)")
    skip.add_argument("--reason", required=True)
    skip.add_argument("--operator", default="")
    skip.add_argument("--dry-run", action="store_true")
    skip.set_defaults(func=release_command, action="skip")


def visibility_query(query: str) -> str:
    return f"{PARKED} AND ({query})" if query.strip() else PARKED


async def parked_flows(client: Client, query: str = "") -> list[ParkedFlow]:
    """Running flows that are parked now (checked by query, not only by search attribute)."""
    found = []
    async for wf in client.list_workflows(visibility_query(query)):
        try:
            step = await client.get_workflow_handle(wf.id, run_id=wf.run_id).query(
                "parked", result_type=ParkedStep)
        except RPCError:
            continue  # closed meanwhile
        if step is not None:
            found.append(ParkedFlow(wf.id, wf.workflow_type, step))
    return sorted(found, key=lambda f: f.workflow_id)


async def release(client: Client, flows: list[ParkedFlow],
                  how: RetryInput | SkipInput) -> list[str]:
    """Signal `retry` or `skip` to each flow; the ids signalled."""
    signal = "retry" if isinstance(how, RetryInput) else "skip"
    done = []
    for flow in flows:
        await client.get_workflow_handle(flow.workflow_id).signal(signal, how)
        done.append(flow.workflow_id)
    return done


def render(flows: list[ParkedFlow]) -> str:
    header = (f"{'workflow':<38} {'type':<20} {'step':<26} {'reason':<24} {'tries':>5}  "
              "since")
    lines = [header, "-" * len(header)]
    for f in flows:
        s = f.step
        lines.append(f"{f.workflow_id:<38} {f.workflow_type:<20} {s.step[:26]:<26} "
                     f"{s.reason[:24]:<24} {s.attempts:>5}  {s.since:%Y-%m-%d %H:%M:%S}")
        lines.append(f"{'':<38} {s.message[:100]}")
    lines.append(f"{len(flows)} parked")
    return "\n".join(lines)


async def list_command(args: argparse.Namespace, settings: Settings) -> int:
    flows = await parked_flows(await connect(settings), args.query)
    if args.json:
        print(json.dumps([{"workflow_id": f.workflow_id, "workflow_type": f.workflow_type,
                           **f.step.model_dump(mode="json")} for f in flows], indent=2))
    else:
        print(render(flows))
    return 0


async def release_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "retry" and args.corrected is not None and not isinstance(
            args.corrected, dict):
        print("--corrected must be a JSON object", file=sys.stderr)
        return 2
    client = await connect(settings)
    flows = await parked_flows(client, args.query)
    how: RetryInput | SkipInput = (
        RetryInput(operator=args.operator, note=args.note, corrected=args.corrected)
        if args.action == "retry" else SkipInput(operator=args.operator, reason=args.reason))
    if args.dry_run:
        print(render(flows) + f"\n(dry run: nothing signalled; would {args.action})")
        return 0
    for workflow_id in await release(client, flows, how):
        print(f"{args.action}: {workflow_id}")
    print(f"{len(flows)} flow(s) released ({args.action})")
    return 0
