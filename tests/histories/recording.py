"""Shared helpers of the history recorders (tests/histories/record.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from temporalio.client import Client

from workflows.config import CODE_VERSION

HERE = Path(__file__).resolve().parent
# What is recorded now are executions started by this code (FlowConfig.code_version: no
# patch markers); the files without the suffix were recorded before code versions existed
# (the patch markers decide their paths) and are kept, never re-recorded.
SUFFIX = f"_v{CODE_VERSION}"
DAY = dt.timedelta(days=1)


async def save(client: Client, name: str, workflow_id: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    text = json.dumps(json.loads(history.to_json()), indent=1)
    (HERE / f"{name}{SUFFIX}.json").write_text(text + "\n")
    print(f"recorded {name}{SUFFIX}.json ({len(history.events)} events)")


async def first_run(client: Client, workflow_id: str) -> str:
    """The run an entity began with (it may have continued as new since)."""
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.raw_description.workflow_execution_info.first_run_id


def queue() -> str:
    return f"rec-{uuid.uuid4().hex[:8]}"
