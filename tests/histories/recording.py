"""Shared helpers of the history recorders (tests/histories/record.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from temporalio.client import Client

HERE = Path(__file__).resolve().parent
DAY = dt.timedelta(days=1)


async def save(client: Client, name: str, workflow_id: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    text = json.dumps(json.loads(history.to_json()), indent=1)
    (HERE / f"{name}.json").write_text(text + "\n")
    print(f"recorded {name}.json ({len(history.events)} events)")


def queue() -> str:
    return f"rec-{uuid.uuid4().hex[:8]}"
