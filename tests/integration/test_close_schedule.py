"""`starter.py close --schedule`: the monthly Temporal Schedule of the period close."""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow

from cli.close import MONTHLY, SCHEDULE_ID, ensure_schedule
from workflows.config import FlowConfig
from workflows.period_close import PeriodCloseInput, previous_period


async def test_schedule_is_created_once_then_updated(dev_client: Client) -> None:
    req = PeriodCloseInput(legal_entities=["US01"], config=FlowConfig(task_queue="tq-close"))
    try:
        assert await ensure_schedule(dev_client, req) == "created"
        changed = req.model_copy(update={"legal_entities": ["US01", "DE01"]})
        assert await ensure_schedule(dev_client, changed) == "updated"
        desc = await dev_client.get_schedule_handle(SCHEDULE_ID).describe()
        [calendar] = desc.schedule.spec.calendars
        assert [(r.start, r.end or r.start) for r in calendar.day_of_month] == [(1, 1)]
        assert [(r.start, r.end or r.start) for r in calendar.hour] == [(2, 2)]
        assert calendar.comment == MONTHLY.comment
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "PeriodCloseWorkflow"
        assert action.task_queue == "tq-close"
    finally:
        await dev_client.get_schedule_handle(SCHEDULE_ID).delete()


def test_a_scheduled_run_closes_the_month_before() -> None:
    import datetime as dt

    assert previous_period(dt.datetime(2026, 11, 1, 2, tzinfo=dt.UTC)) == "2026-10"
    assert previous_period(dt.datetime(2027, 1, 1, 2, tzinfo=dt.UTC)) == "2026-12"
