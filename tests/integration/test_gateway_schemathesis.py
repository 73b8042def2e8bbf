"""Schemathesis against the running gateway's /openapi.json: no 5xx, responses as documented."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from adapters.sandbox.serve import running_sandboxes
from tests.integration.gateway_harness import API_KEY, ENTITIES, config, served_gateway
from tests.sandbox_harness import sqlite_stores

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
EXAMPLES = os.environ.get("CASHLOOP_SCHEMATHESIS_EXAMPLES", "25")


async def test_every_endpoint_answers_as_documented_and_never_5xx(tmp_path: Path) -> None:
    async with running_sandboxes(["crm", "tax"], sqlite_stores(tmp_path), ENTITIES) as urls:
        cfg = config(tmp_path, crm_url=urls["crm"], tax_url=urls["tax"])
        async with served_gateway(cfg) as (url, _gw):
            proc = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("schemathesis")), "run",
                f"{url}/openapi.json", "--checks", CHECKS, "--header", f"X-API-Key:{API_KEY}",
                "--max-examples", EXAMPLES, "--seed", "20261126", "--no-color",
                "--phases", "examples,coverage,fuzzing", "--workers", "1",
                "--request-timeout", "30", "--generation-database", "none",
                "--suppress-health-check", "all",
                cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output, _ = await proc.communicate()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
