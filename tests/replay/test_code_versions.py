"""Executions started with a code version take the patched paths without patch markers."""

from __future__ import annotations

import ast
import base64
import json
import re
from pathlib import Path

import pytest

from workflows.config import CODE_VERSION
from workflows.versions import FOLDED, VERSION_1

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
VERSIONED = sorted(p.stem for p in HISTORIES.glob(f"*_v{CODE_VERSION}.json"))
# every code version's recordings: none of them may hold a patch marker
ALL_VERSIONED = sorted(p.stem for p in HISTORIES.glob("*.json") if re.search(r"_v\d+$", p.stem))


def patch_ids_in_code() -> set[str]:
    """Every `PATCH_* = "..."` constant of the workflow code."""
    found: set[str] = set()
    for path in (ROOT / "workflows").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.startswith("PATCH_")
                    and isinstance(node.value, ast.Constant)):
                assert isinstance(node.value.value, str), node.targets[0].id
                found.add(node.value.value)
    return found


def test_the_current_version_folds_exactly_the_patches_of_the_code() -> None:
    """A patch added later must not count as applied for executions of older versions."""
    assert FOLDED[CODE_VERSION] == patch_ids_in_code()
    assert FOLDED[1] == VERSION_1
    for older, newer in zip(sorted(FOLDED), sorted(FOLDED)[1:], strict=False):
        assert FOLDED[older] < FOLDED[newer]


def test_every_recorded_shape_is_also_recorded_with_the_code_version() -> None:
    unversioned = {p.stem for p in HISTORIES.glob("*.json")
                   if "_before_" not in p.stem and not re.search(r"_v\d+$", p.stem)}
    assert {f"{name}_v{CODE_VERSION}" for name in unversioned} <= set(VERSIONED)


@pytest.mark.parametrize("name", ALL_VERSIONED)
def test_versioned_history_has_no_patch_markers_and_carries_its_version(name: str) -> None:
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    markers = [e["markerRecordedEventAttributes"]["markerName"] for e in events
               if "markerRecordedEventAttributes" in e]
    assert "core_patch" not in markers
    started = events[0]["workflowExecutionStartedEventAttributes"]
    assert _decoded_version(started) == int(name.rsplit("_v", 1)[1])


def _decoded_version(started: dict) -> int | None:
    """code_version of the config in the workflow's input (a flow's input or snapshot)."""
    for payload in started["input"]["payloads"]:
        data = json.loads(base64.b64decode(payload["data"]))
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            return data["config"].get("code_version")
    return None
