"""Business metrics after the demo scenario, sent through the gateway to the engine: the
worker's /metrics, the gateway's /metrics and the Temporal SDK's own endpoint, checked
against what the scenario did.

On top of the demo: seeded 503s on erp-cloud (one ERP call per activity attempt, so the
retries pair up with the ERP's own count) and one customer blocked in the CRM (its
activation parks).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from pathlib import Path

import httpx
from temporalio.client import Client

from adapters.sandbox.client import SandboxAdminClient
from adapters.sandbox.faults import FaultSettings
from canonical.events import InvoiceIssuedEvent, PaymentSucceededEvent
from cli.cookbook import PARKED_NOW
from devstack import streams
from devstack.demo import wait_settled
from gateway.client import GatewayClient
from observability.metrics import MetricsServer, observe_parked, sdk_runtime
from observability.parked import ParkedCount
from tests.integration.demo_data import apply_setup, demo
from tests.integration.gateway_harness import API_KEY, SECRET, config, served_gateway
from tests.integration.stack import running_engine
from tests.integration.test_metrics import Samples, scrape, total
from tests.observability_harness import free_port

DUE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # globex's term ends: its renewal is due


async def scraped(url: str) -> Samples:
    # off the event loop: the parked gauge's callback runs a query on this loop
    return await asyncio.to_thread(scrape, url)


async def parked_activation(engine_client: Client, sub_id: str) -> None:
    handle = engine_client.get_workflow_handle(f"activation-{sub_id}")
    for _ in range(1200):
        try:
            if await handle.query("parked") is not None:
                return
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"activation-{sub_id} did not park")


async def test_worker_and_gateway_metrics_match_the_demo(dev_client: Client,
                                                        tmp_path: Path) -> None:
    d = demo(tmp_path, uuid.uuid4().hex[:6])
    blocked = streams.lifecycle(f"sub_mblocked{d.tag}", streams.customer(
        f"cus_mblocked{d.tag}", "US"), dt.date(2026, 1, 1))
    blocked.activate()
    worker_metrics = MetricsServer("127.0.0.1", 0)
    sdk_port = free_port()
    client = await Client.connect(dev_client.service_client.config.target_host,
                                  namespace=dev_client.namespace,
                                  data_converter=dev_client.data_converter,
                                  runtime=sdk_runtime("127.0.0.1", sdk_port))
    faults = {"erp-cloud": FaultSettings(error_rate=0.2, error_kinds=["503"], seed=7)}
    started = dt.datetime.now(dt.UTC)
    before = await scraped(worker_metrics.url)
    try:
        async with running_engine(client, tmp_path, faults=faults, erp_batching=False,
                                  **d.setup["flow_config"]) as engine:
            await apply_setup(engine, d.setup)
            await engine.crm.update_account(blocked.customer.customer_id, correlation_id="t",
                                            blocked=True)
            scope = f"({PARKED_NOW}) AND TaskQueue = '{engine.config.task_queue}'"
            unobserve = observe_parked(ParkedCount(client, scope, asyncio.get_running_loop()))

            async def connect() -> Client:
                return client

            cfg = config(tmp_path, connect=connect, flow=engine.config)
            async with served_gateway(cfg) as (url, _gw), httpx.AsyncClient(
                    base_url=url, timeout=60) as http:
                sender = GatewayClient(http, API_KEY, SECRET)
                events = [*d.events, *blocked.events]
                await sender.post_events(events)
                again = await sender.post_events(d.events[:1])  # a redelivery
                assert again[0]["accepted"] == 0
                # As the demo waits: dunning ladders to their end too, or a retry's ERP
                # call could land between the ERP's count and the SDK's below.
                ok, views = await wait_settled(
                    client, Counter(e.subscription_id for e in d.events))
                assert ok, views
                await parked_activation(client, blocked.subscription.subscription_id)
                async with httpx.AsyncClient(base_url=engine.urls["erp-cloud"]) as erp:
                    erp_stats = await SandboxAdminClient(erp, "erp").stats()
                gateway = await scraped(f"{url}/metrics")
                after = await scraped(worker_metrics.url)
            unobserve()
            queues = engine.config.task_queue, engine.config.erp_task_queue
        sdk = await scraped(f"http://127.0.0.1:{sdk_port}/metrics")
    finally:
        worker_metrics.close()

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Gateway: what it accepted, dropped as a duplicate and forwarded; nothing left over.
    assert total(gateway, "cashloop_gateway_events_accepted_total") == len(events)
    assert total(gateway, "cashloop_gateway_duplicates_total") == 1
    assert total(gateway, "cashloop_gateway_forwarded_total") == len(events)
    assert total(gateway, "cashloop_gateway_backlog_events") == 0
    assert total(gateway, "cashloop_inbox_backlog", source="all") == 0

    # Invoice postings: every invoice.issued, plus acme's rebill and globex's renewal (US01).
    invoices = Counter(e.payload.invoice.legal_entity for e in d.events
                       if isinstance(e, InvoiceIssuedEvent))
    invoices["US01"] += 2
    for entity, n in invoices.items():
        assert delta("cashloop_invoice_postings_total", legal_entity=entity,
                     outcome="success") == n, entity
    assert delta("cashloop_invoice_postings_total", outcome="failure") == 0

    # Payment application latency: one observation per payment.succeeded applied.
    payments = Counter(e.payload.payment.legal_entity for e in d.events
                       if isinstance(e, PaymentSucceededEvent))
    for entity, n in payments.items():
        assert delta("cashloop_payment_application_latency_seconds_count",
                     legal_entity=entity) == n, entity
    assert delta("cashloop_payment_application_latency_seconds_sum") >= 0

    # Retries by activity and error class, and ERP errors by status, equal the ERP's count.
    injected = erp_stats["by_status"].get("503", 0)
    assert injected > 0
    main_q, erp_q = queues
    assert delta("cashloop_erp_api_errors_total", erp="erp-cloud", status_code="503") == injected
    # ERP calls are tried as local activities first (main queue), then on the ERP queue.
    assert sum(delta("cashloop_activity_retries_total", task_queue=q,
                     error_type="erp.unavailable") for q in queues) == injected
    assert delta("cashloop_activity_failures_total", task_queue=erp_q) == 0
    assert (total(sdk, "temporal_activity_execution_failed_total", task_queue=erp_q)
            + sum(total(sdk, "temporal_local_activity_execution_failed_total",
                        task_queue=main_q, activity_type=a)
                  for a in ("post_to_erp", "post_routed"))) == injected

    # Parked: the blocked customer's activation, now (visibility) and as an event.
    assert total(after, "cashloop_parked_items", flow="activation",
                 reason="crm.rejected") == 1
    assert delta("cashloop_parkings_total", flow="activation", reason="crm.rejected") == 1
    assert delta("cashloop_parkings_total") == 1

    # Renewal processing lag: globex's renewal, due on 1 November, renewed during the test.
    assert delta("cashloop_renewal_processing_lag_seconds_count", legal_entity="US01",
                 outcome="renewed") == 1
    lag = delta("cashloop_renewal_processing_lag_seconds_sum")
    assert (started - DUE).total_seconds() <= lag <= (
        dt.datetime.now(dt.UTC) - DUE).total_seconds()
    assert main_q  # the SDK's endpoint served the main queue too
    assert total(sdk, "temporal_workflow_completed_total", task_queue=main_q) > 0
