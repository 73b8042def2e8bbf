"""`starter.py close`: run a period close now, or create the monthly Temporal Schedule."""

from __future__ import annotations

import argparse
import re
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.send import flow_config
from settings import Settings, load_entities
from temporal_client import connect
from workflows.config import FlowConfig
from workflows.period_close import PeriodCloseInput, PeriodCloseResult, PeriodCloseWorkflow

SCHEDULE_ID = "period-close-monthly"
SCHEDULED_WORKFLOW_ID = "period-close-scheduled"  # Temporal appends the run's timestamp
# On the 1st of each month at 02:00 UTC: closes the month before.
MONTHLY = ScheduleCalendarSpec(day_of_month=[ScheduleRange(1)], hour=[ScheduleRange(2)],
                               comment="1st of the month, 02:00 UTC: close the previous month")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def register(sub: Any) -> None:
    p = sub.add_parser("close", help="period close: recognise revenue, lock the period")
    p.add_argument("--period", help="YYYY-MM to close now (e.g. 2026-10)")
    p.add_argument("--entity", action="append", dest="entities",
                   help="legal entity to close (repeatable; default: every entity)")
    p.add_argument("--no-lock", action="store_true", help="recognise only, leave it open")
    p.add_argument("--schedule", action="store_true",
                   help=f"create (or update) the monthly Temporal Schedule {SCHEDULE_ID}")
    p.set_defaults(func=close_command)


def close_input(settings: Settings, period: str | None, entities: list[str] | None,
                lock: bool = True, config: FlowConfig | None = None) -> PeriodCloseInput:
    every = sorted(load_entities(settings.entities_file))
    return PeriodCloseInput(period=period, legal_entities=entities or every, lock=lock,
                            config=config or flow_config(settings))


async def run_close(client: Client, req: PeriodCloseInput) -> PeriodCloseResult:
    """Run (or join the running) close of `req.period`; a finished one may run again."""
    workflow_id = f"period-close-{req.period}"
    try:
        handle = await client.start_workflow(
            PeriodCloseWorkflow.run, req, id=workflow_id, task_queue=req.config.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(PeriodCloseWorkflow.run, workflow_id)
    return await handle.result()


async def ensure_schedule(client: Client, req: PeriodCloseInput) -> str:
    """Create the monthly close schedule, or update its action and spec if it exists."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(PeriodCloseWorkflow.run, req,
                                           id=SCHEDULED_WORKFLOW_ID,
                                           task_queue=req.config.task_queue),
        spec=ScheduleSpec(calendars=[MONTHLY]))
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)
        await client.get_schedule_handle(SCHEDULE_ID).update(update)
        return "updated"


def render(result: PeriodCloseResult) -> str:
    lines = [f"Period close {result.period}",
             f"{'entity':<8} {'recognised':>10} {'moved':>6}  locked in"]
    for e in result.entities:
        lines.append(f"{e.legal_entity:<8} {e.recognised:>10} {len(e.moved):>6}  "
                     f"{', '.join(e.locked_in) or '-'}"
                     + (f"  SKIPPED: {e.skipped}" if e.skipped else ""))
        for external_id, period in e.moved.items():
            lines.append(f"  FLAG {external_id}: its period was locked; posted in {period}")
    return "\n".join(lines)


async def close_command(args: argparse.Namespace, settings: Settings) -> int:
    if not args.schedule and not args.period:
        print("close: give --period YYYY-MM or --schedule")
        return 2
    if args.period and not _PERIOD.match(args.period):
        print(f"close: --period must be YYYY-MM, got {args.period!r}")
        return 2
    client = await connect(settings)
    if args.schedule:
        req = close_input(settings, None, args.entities, not args.no_lock)
        outcome = await ensure_schedule(client, req)
        print(f"schedule {SCHEDULE_ID} {outcome}: {MONTHLY.comment}; entities "
              f"{', '.join(req.legal_entities)}")
        if not args.period:
            return 0
    result = await run_close(client, close_input(settings, args.period, args.entities,
                                                 not args.no_lock))
    print(render(result))
    return 0 if all(e.skipped is None for e in result.entities) else 1
