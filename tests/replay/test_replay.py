"""Committed histories (tests/histories/) replay against the current workflow code."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from payload_converter import shared_data_converter
from worker import WORKFLOWS, workflow_runner
from workflows.amendments import (
    PATCH_AMENDMENT_WAITS,
    PATCH_LATE_CANCELLATION,
    PATCH_REVERSE_PAID_REBILL,
)
from workflows.calls import PATCH_LOCAL_CALLS, PATCH_ONE_ERP_CALL
from workflows.cancellation import PATCH_WITHDRAWABLE
from workflows.document_rules import PATCH_VOID_STOPS_DUNNING
from workflows.dunning_state import PATCH_STOP_BEFORE_CANCEL
from workflows.renewal_window import PATCH_DEFERRED_RENEWAL
from workflows.subscription import PATCH_FLOWS
from workflows.subscription_cancels import PATCH_SAME_CANCELLATION
from workflows.subscription_flows import PATCH_CHILD_REPORTED

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
REQUIRED = {  # what the suite promises to cover
    "activation", "amendment", "renewal", "dunning_written_off", "dunning_recovered",
    "cancellation_requested", "cancellation_non_payment", "subscription",
    "activation_parked_then_retried", "amendment_compensated",
    "subscription_continued_as_new", "subscription_before_flows",
    "dunning_paid_before_cancel", "dunning_voided", "subscription_voided_in_dunning",
    "subscription_late_paid_amendment", "subscription_late_cancellation",
    "subscription_amendment_upstream", "amendment_upstream",
    "cancellation_withdrawn", "subscription_cancellation_withdrawn",
    "subscription_final_cancellation_noted",
    "activation_before_perf", "subscription_before_perf", "amendment_before_perf",
    "renewal_before_perf", "dunning_recovered_before_perf", "subscription_renewal_deferred",
    "subscription_idled_out_v2", "subscription_idled_out_v3",
    "subscription_fresh_after_activation_v6", "subscription_after_fresh_run_v6",
    "subscription_upstream_documents_first_v7",
    "subscription_credited_in_dunning_v7", "dunning_credited_v7",
    "subscription_amended_in_dunning_v7", "subscription_cancelled_in_dunning_v7",
    "dunning_after_cancellation_v7", "subscription_late_cancellation_in_dunning_v8",
    "subscription_upstream_reordered_v8", "dunning_closed_upstream_v8",
    "subscription_free_plan_v9", "renewal_free_plan_v9",
}


def history(name: str) -> WorkflowHistory:
    text = (HISTORIES / f"{name}.json").read_text()
    return WorkflowHistory.from_json(name, text)


def patches(name: str) -> list[str]:
    """Ids of the `workflow.patched` markers the recorded execution wrote."""
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    found = []
    for e in events:
        attrs = e.get("markerRecordedEventAttributes", {})
        if attrs.get("markerName") == "core_patch":
            for payload in attrs["details"]["patch-data"]["payloads"]:
                found.append(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_every_promised_history_is_committed() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} >= REQUIRED


NAMES = sorted(p.stem for p in HISTORIES.glob("*.json"))


async def _replay_all() -> dict[str, BaseException | None]:
    """Each history's replay failure (None: replayed), by one replayer whose worker is
    set up once: a worker per history (the sandbox preparing every workflow class) cost
    more than the replays."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=shared_data_converter,
                        workflow_runner=workflow_runner())

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for name in NAMES:
            yield history(name)

    failures: dict[str, BaseException | None] = {}
    names = iter(NAMES)
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:  # in the order the histories went in
            failures[next(names)] = result.replay_failure
    return failures


@pytest.fixture(scope="module")
def replayed() -> dict[str, BaseException | None]:
    return asyncio.run(_replay_all())


@pytest.mark.parametrize("name", NAMES)
def test_history_replays_with_the_current_code(
        name: str, replayed: dict[str, BaseException | None]) -> None:
    assert name in replayed, f"{name} was not replayed"
    assert replayed[name] is None, f"{name}: {replayed[name]}"


def test_history_from_before_the_patch_takes_the_old_path() -> None:
    """Its execution has no patch marker, so replay must (and does) skip the renewal child."""
    assert PATCH_FLOWS not in patches("subscription_before_flows")
    assert PATCH_FLOWS in patches("subscription")
    old = json.loads((HISTORIES / "subscription_before_flows.json").read_text())["events"]
    assert not any(e.get("eventType") == "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"
                   and "RenewalFlow" in json.dumps(e) for e in old)


def test_histories_of_the_edge_cases_took_the_patched_paths() -> None:
    """Executions recorded with the patches wrote their markers; older ones have none,
    so a ladder paid or voided during its last notice before them replays as it ran."""
    assert PATCH_STOP_BEFORE_CANCEL in patches("dunning_paid_before_cancel")
    assert PATCH_VOID_STOPS_DUNNING in patches("subscription_voided_in_dunning")
    assert PATCH_STOP_BEFORE_CANCEL not in patches("dunning_written_off")
    assert PATCH_REVERSE_PAID_REBILL in patches("subscription_late_paid_amendment")
    assert PATCH_LATE_CANCELLATION in patches("subscription_late_cancellation")
    assert PATCH_AMENDMENT_WAITS in patches("subscription_amendment_upstream")
    assert PATCH_AMENDMENT_WAITS not in patches("subscription")  # recorded before it
    assert PATCH_WITHDRAWABLE in patches("cancellation_withdrawn")
    assert PATCH_WITHDRAWABLE not in patches("cancellation_requested")
    assert PATCH_SAME_CANCELLATION in patches("subscription_final_cancellation_noted")


@pytest.mark.parametrize("name", ["subscription_idled_out_v2", "subscription_idled_out_v3"])
def test_idled_out_history_ends_in_continue_as_new_after_its_idle_timer(name: str) -> None:
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    kinds = [e["eventType"].removeprefix("EVENT_TYPE_") for e in events]
    assert kinds[-1] == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    # the timer fired after the last posting (an ERP activity in v2, a local one in v3)
    last_posting = max(i for i, k in enumerate(kinds)
                       if k in ("ACTIVITY_TASK_COMPLETED", "MARKER_RECORDED"))
    assert kinds.index("TIMER_FIRED") > last_posting


def scheduled_activities(name: str) -> list[str]:
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    return [e["activityTaskScheduledEventAttributes"]["activityType"]["name"] for e in events
            if "activityTaskScheduledEventAttributes" in e]


@pytest.mark.parametrize("name", ["activation", "subscription"])
def test_histories_from_before_the_perf_patches_keep_their_activities(name: str) -> None:
    """Recorded before calls became local activities: replay must take the old path."""
    old, new = f"{name}_before_perf", name
    assert not {PATCH_LOCAL_CALLS, PATCH_ONE_ERP_CALL} & set(patches(old))
    assert "post_to_erp" in scheduled_activities(old)
    assert {PATCH_LOCAL_CALLS, PATCH_ONE_ERP_CALL} <= set(patches(new))
    assert set(scheduled_activities(new)) == {"post_routed"}


def test_deferred_renewal_history_starts_the_child_after_the_window_timer() -> None:
    """The entity's timer fires first, then the renewal child starts (not at activation)."""
    assert PATCH_DEFERRED_RENEWAL in patches("subscription_renewal_deferred")
    events = json.loads((HISTORIES / "subscription_renewal_deferred.json").read_text())["events"]
    kinds = [e["eventType"] for e in events]
    fired = kinds.index("EVENT_TYPE_TIMER_FIRED")
    renewal_starts = [i for i, e in enumerate(events)
                      if e["eventType"] == "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"
                      and "RenewalFlow" in json.dumps(e)]
    assert renewal_starts and renewal_starts[0] > fired


def test_history_with_the_child_report_race_from_before_its_fix_replays_the_old_way() -> None:
    """A renewal's first report landed with its start (workflow task timed out under load):
    recorded by the code before PATCH_CHILD_REPORTED, so replay keeps the old "Started"."""
    assert PATCH_CHILD_REPORTED not in patches("subscription_report_race_before_fix")
    events = json.loads((HISTORIES / "subscription_report_race_before_fix.json").read_text())
    kinds = [e["eventType"].removeprefix("EVENT_TYPE_") for e in events["events"]]
    started = kinds.index("CHILD_WORKFLOW_EXECUTION_STARTED", kinds.index(
        "CHILD_WORKFLOW_EXECUTION_COMPLETED"))
    signalled = kinds.index("WORKFLOW_EXECUTION_SIGNALED", started)
    # no workflow task completed between the start and the child's report: one activation
    assert "WORKFLOW_TASK_COMPLETED" not in kinds[started:signalled]
