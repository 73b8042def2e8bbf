"""ERP calls are local activities first, and go to the ERP queue when those fail
(workflows/calls.py, PATCH_ERP_LOCAL_FIRST; code version 3)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from activities.erp import LOCAL_FIRST as ERP_CALLS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def steps(name: str) -> list[tuple[str, str, bool]]:
    """(local|activity, activity type, failed) of every call the execution made, in order."""
    found = []
    for e in json.loads((HISTORIES / f"{name}.json").read_text())["events"]:
        marker = e.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_local_activity":
            data = json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))
            found.append(("local", data["activity_type"], "failure" in marker))
        scheduled = e.get("activityTaskScheduledEventAttributes")
        if scheduled:
            found.append(("activity", scheduled["activityType"]["name"], False))
    return found


def test_erp_calls_that_go_through_are_local_activities_only() -> None:
    old = [t for kind, t, _ in steps("subscription_v2") if kind == "activity"]
    assert set(old) == {"post_routed"}  # version 2: the ERP queue
    new = steps("subscription_v3")
    assert not [t for kind, t, _ in new if kind == "activity"]
    assert {t for kind, t, failed in new if kind == "local" and not failed} >= {"post_routed"}


def test_a_refused_local_erp_call_is_taken_over_by_the_erp_queue() -> None:
    """amendment_compensated: the ERP refuses the rebill; the local call fails, the same
    call goes to the ERP queue (visible, retried there), and then the flow parks."""
    calls = [(kind, t, failed) for kind, t, failed in steps("amendment_compensated_v3")
             if t in ERP_CALLS]
    refused = [i for i, (kind, _, failed) in enumerate(calls) if kind == "local" and failed]
    assert refused
    for i in refused:
        assert calls[i + 1] == ("activity", calls[i][1], False)


def test_histories_of_every_version_3_flow_schedule_no_erp_activity_unless_refused() -> None:
    for path in HISTORIES.glob("*_v3.json"):
        calls = [c for c in steps(path.stem) if c[1] in ERP_CALLS]
        for i, (kind, name, _) in enumerate(calls):
            if kind == "activity":
                assert i > 0 and calls[i - 1] == ("local", name, True), path.stem
