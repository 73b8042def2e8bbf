"""The worker's /metrics and the Temporal SDK's own metrics, scraped after a scenario."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from adapters.sandbox.client import SandboxAdminClient
from adapters.sandbox.faults import FaultSettings
from cli.send import deliver
from observability.metrics import MetricsServer, sdk_runtime
from tests.integration.stack import running_engine
from tests.observability_harness import free_port, pii_lifecycle, settle

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and want <= lbls)


async def test_worker_metrics_count_attempts_retries_erp_errors_and_invoices(
        dev_client: Client, tmp_path: Path) -> None:
    server = MetricsServer("127.0.0.1", 0)
    sdk_port = free_port()
    client = await Client.connect(dev_client.service_client.config.target_host,
                                  namespace=dev_client.namespace,
                                  data_converter=dev_client.data_converter,
                                  runtime=sdk_runtime("127.0.0.1", sdk_port))
    lives = [pii_lifecycle(f"sub_metrics_{i}") for i in range(3)]
    faults = {"erp-cloud": FaultSettings(error_rate=0.35, error_kinds=["503"], seed=11)}
    try:
        before = scrape(server.url)
        # One ERP call per activity attempt, so injected faults and failed attempts pair up.
        async with running_engine(client, tmp_path, faults=faults,
                                  erp_batching=False) as engine:
            await deliver(client, [e for life in lives for e in life.events],
                          engine.config)
            await settle(engine, Counter({life.subscription_id: 2 for life in lives}))
            async with httpx.AsyncClient(base_url=engine.urls["erp-cloud"]) as http:
                erp_stats = await SandboxAdminClient(http, "erp").stats()
            queues = engine.config.task_queue, engine.config.erp_task_queue
        after = scrape(server.url)
        sdk = scrape(f"http://127.0.0.1:{sdk_port}/metrics")
    finally:
        server.close()

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    injected = erp_stats["by_status"].get("503", 0)
    assert injected > 0  # the seeded faults did hit
    assert delta("cashloop_erp_api_errors_total", erp="erp-cloud", status_code="503") == injected
    main_q, erp_q = queues
    # An attempt stops at its first refused HTTP call, so faults and failed attempts pair
    # up across both ERP activities (post_routed carries several ERP groups in order).
    # ERP calls are tried as local activities first (on the main queue), then on the ERP
    # queue; a failed local attempt is a retry, never a final failure.
    posting = ("post_to_erp", "post_routed")
    failed = sum(delta("cashloop_activity_attempts_total", activity=a, task_queue=q,
                       outcome="failed") for a in posting for q in queues)
    assert failed == injected
    assert sum(delta("cashloop_activity_retries_total", activity=a, task_queue=q,
                     error_type="erp.unavailable") for a in posting for q in queues) == injected
    assert delta("cashloop_activity_failures_total") == 0
    assert delta("cashloop_activity_attempts_total", activity="validate_customer",
                 task_queue=main_q, outcome="completed") == len(lives)
    assert delta("cashloop_invoice_postings_total", legal_entity="DE01",
                 outcome="success") == len(lives)
    # The SDK's own metrics, from its separate endpoint, agree with ours.
    assert (total(sdk, "temporal_activity_execution_failed_total", task_queue=erp_q)
            + sum(total(sdk, "temporal_local_activity_execution_failed_total",
                        task_queue=main_q, activity_type=a) for a in posting)) == injected
    # CRM validation is a local activity (workflows/calls.py).
    assert total(sdk, "temporal_local_activity_execution_latency_count", task_queue=main_q,
                 activity_type="validate_customer") == len(lives)
