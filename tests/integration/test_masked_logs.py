"""No personal data in any log line of the worker and the sandboxes, whatever logs it."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from adapters.sandbox.faults import FaultSettings
from cli.send import deliver
from observability.logging import captured_logs
from security.keys import KeyRing, new_key_entry
from tests.integration.stack import running_engine
from tests.observability_harness import PII, encrypted_client, pii_lifecycle, pii_strings, settle


@workflow.defn(sandboxed=False)
class LogsCustomerWorkflow:
    """Logs personal data carelessly, through the replay-safe workflow logger: contact data
    in the message text, the whole customer (with its name) as a structured field. (A name
    in free text cannot be recognised; names are masked from known fields.)"""

    @workflow.run
    async def run(self, customer: dict[str, str]) -> None:
        workflow.logger.warning("contacting <%s> on %s at %s", customer["email"],
                                customer["phone"], customer["street"],
                                extra={"customer": customer})


class _Raw(logging.Handler):
    """What the records held before masking (proves the PII really was logged)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.getMessage()} {record.__dict__}")


async def test_no_log_line_of_the_worker_or_sandboxes_holds_seeded_personal_data(
        dev_client: Client, tmp_path: Path) -> None:
    client = encrypted_client(dev_client, KeyRing.parse(new_key_entry("k-logs")))
    lives = [pii_lifecycle(f"sub_logs_{i}") for i in range(2)]
    raw = _Raw()
    logging.getLogger().addHandler(raw)
    # ERP faults make activities fail and retry, so error paths log too.
    faults = {"erp-cloud": FaultSettings(error_rate=0.3, error_kinds=["503", "500"], seed=7)}
    try:
        with captured_logs("json", service="worker") as lines:
            async with running_engine(client, tmp_path, faults=faults) as engine:
                await deliver(client, [e for life in lives for e in life.events],
                              engine.config)
                await settle(engine, Counter({life.subscription_id: 2 for life in lives}))
                queue = f"logs-{uuid.uuid4().hex[:8]}"
                async with Worker(client, task_queue=queue, workflows=[LogsCustomerWorkflow],
                                  workflow_runner=UnsandboxedWorkflowRunner()):
                    await client.execute_workflow(
                        LogsCustomerWorkflow.run, {"name": PII["name"], "email": PII["email"],
                                                   "phone": PII["phone"],
                                                   "street": PII["street"]},
                        id=f"logs-{queue}", task_queue=queue)
    finally:
        logging.getLogger().removeHandler(raw)

    records = [json.loads(line) for line in lines]
    assert any(PII["email"] in t for t in raw.texts)  # it was logged, unmasked, upstream
    for secret in pii_strings()[:-1]:  # every seeded PII string (the price is no PII)
        leaks = [line for line in lines if secret in line]
        assert not leaks, leaks[:3]
    services = Counter(r.get("logger", "").split(".")[0] for r in records)
    assert services["cashloop"] and services["temporalio"]
    sandbox = [r for r in records if r["event"] == "sandbox_request_handled"
               and r.get("correlation_id") == lives[0].events[0].correlation_id]
    assert sandbox and all(r["sandbox"] for r in sandbox)
    retried = [r for r in records if r["event"] == "activity_failed"]
    assert retried and all(r["workflow_id"] and r["run_id"] and r["activity"] and
                           r["correlation_id"] and r["error_type"] == "erp.unavailable"
                           for r in retried)
    [wf_line] = [r for r in records if r["event"].startswith("contacting")]
    assert wf_line["workflow_id"] == f"logs-{queue}" and wf_line["run_id"]
    assert wf_line["customer"]["email"] == "[masked]"
