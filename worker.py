"""Composition root of the worker: settings -> adapters -> router -> activities -> Workers.

Two workers share one client: the main task queue runs workflows and non-ERP
activities; the ERP task queue runs ERP activities only, throttled server-side to
the ERP's request limit so the limit holds across every worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import event_loop
from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.erp import ErpActivities
from activities.payments import PaymentsActivities
from activities.proration import ProrationActivities
from activities.provisioning import ProvisioningActivities
from activities.rules import RulesActivities
from activities.tax import TaxActivities
from adapters.erp.routing import ErpRouter, RoutingTable
from canonical.accounts import LegalEntity
from canonical.catalog import RecognitionMethod
from cli.cookbook import PARKED_NOW
from observability.interceptor import ObservabilityInterceptor
from observability.logging import configure_logging, get_logger
from observability.metrics import MetricsServer, observe_parked, sdk_runtime
from observability.parked import ParkedCount
from observability.tracing import client_interceptors, configure_tracing, has_tracing
from ports import Ports, configured_ports
from settings import (
    Settings,
    load_entities,
    load_recognition_methods,
)
from settings_secrets import load_secrets
from temporal_client import connect
from worker_gc import ActivationExecutor, FullCollections, tune_gc
from workflows.activation import ActivationFlow
from workflows.amendment import AmendmentFlow
from workflows.cancellation import CancellationFlow
from workflows.dunning import DunningFlow
from workflows.period_close import PeriodCloseWorkflow
from workflows.renewal import RenewalFlow
from workflows.subscription import SubscriptionWorkflow

WORKFLOWS: Sequence[type] = (SubscriptionWorkflow, ActivationFlow, AmendmentFlow, RenewalFlow,
                             DunningFlow, CancellationFlow, PeriodCloseWorkflow)
# Our pure modules are imported once, not re-imported per workflow run in the sandbox.
PASSTHROUGH = ("canonical", "adapters", "activities", "settings", "pydantic", "pydantic_core",
               "annotated_types", "httpx")
ERP_CONCURRENT_ACTIVITIES = 1000


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def worker_interceptors(client: Client) -> list[Any]:
    """Tracing (unless the client already brings it) and the activity observability."""
    tracing = [] if has_tracing(client.config()["interceptors"]) else client_interceptors()
    return [*tracing, ObservabilityInterceptor()]


def build_workers(client: Client, ports: Ports, *, routing: RoutingTable,
                  entities: dict[str, LegalEntity],
                  recognition: dict[str, RecognitionMethod] | None = None,
                  task_queue: str, erp_task_queue: str,
                  erp_max_postings_per_s: float | None = None,
                  max_cached_workflows: int = 2000, sandboxed: bool = True,
                  activation_executor: ActivationExecutor | None = None) -> list[Worker]:
    """The main and ERP workers; tests call this with their own ports and queues.

    `erp_max_postings_per_s` caps ERP activities across every worker (server-side);
    the ERP adapters' batchers pace the HTTP calls themselves (configured_ports).
    """
    crm = CrmActivities(ports.crm)
    tax = TaxActivities(ports.tax)
    prov = ProvisioningActivities(ports.provisioning)
    rules = RulesActivities(entities, recognition, ports.rates)
    erp = ErpActivities(ErpRouter(routing, ports.erps))
    payments = PaymentsActivities(ports.payments)
    billing = BillingActivities(ports.billing)
    proration = ProrationActivities()
    main_activities: list[Callable[..., Any]] = [
        crm.validate_customer, crm.renewal_terms, crm.send_notice, tax.calculate_tax,
        prov.grant_entitlements, prov.suspend_entitlements, prov.restore_entitlements,
        prov.revoke_entitlements,
        rules.invoice_journal, rules.credit_memo_journal, rules.payment_journal,
        rules.refund_journal, rules.write_off_journal, rules.memo_release_journal,
        rules.recognition_journals,
        proration.prorate_amendment, proration.renewal_term, payments.collect_payment,
        billing.close_unpaid_upstream,
    ]
    erp_activities: list[Callable[..., Any]] = [
        erp.post_to_erp, erp.post_routed, erp.reverse_erp_document, erp.cancel_erp_contract,
        erp.get_erp_receipt,
        erp.list_open_revenue_periods, erp.lock_erp_period,
    ]
    interceptors = worker_interceptors(client)
    main = Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                  # ERP calls run here first as local activities (workflows/calls.py _erp),
                  # through the same batchers as the ERP worker's
                  activities=[*main_activities, *erp_activities],
                  workflow_runner=(workflow_runner() if sandboxed
                                   else UnsandboxedWorkflowRunner()),
                  interceptors=interceptors,
                  max_cached_workflows=max_cached_workflows,
                  workflow_task_executor=activation_executor,
                  max_concurrent_workflow_task_polls=20, max_concurrent_activity_task_polls=20,
                  # local ERP calls wait in the batcher for their batch call: many at once
                  max_concurrent_local_activities=ERP_CONCURRENT_ACTIVITIES)
    erp_worker = Worker(client, task_queue=erp_task_queue, activities=erp_activities,
                        interceptors=interceptors,
                        max_task_queue_activities_per_second=erp_max_postings_per_s,
                        # activities wait in the batcher for their batch call: many at once
                        max_concurrent_activities=ERP_CONCURRENT_ACTIVITIES,
                        max_concurrent_activity_task_polls=10)
    return [main, erp_worker]


async def run(settings: Settings) -> None:
    configure_logging(settings.log_format, settings.log_level, service="worker")
    configure_tracing(settings.otel_exporter, "worker")
    log = get_logger("cashloop.worker")
    secrets = load_secrets()
    metrics_server = (MetricsServer(settings.host, settings.worker_metrics_port)
                      if settings.worker_metrics_port else None)
    # The SDK's own metrics (task latencies, poller counts, ...) on a second port.
    runtime = (sdk_runtime(settings.host, settings.sdk_metrics_port)
               if settings.sdk_metrics_port else None)
    client = await connect(settings, secrets, runtime=runtime)
    # cashloop_parked_items: counted from visibility at each scrape (observability/parked.py)
    unobserve = observe_parked(ParkedCount(client, PARKED_NOW, asyncio.get_running_loop()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # activations counted so that full collections run between them (worker_gc.py)
    activations = ActivationExecutor()
    collections = asyncio.create_task(FullCollections(activations).run())
    try:
        async with configured_ports(settings, secrets) as ports:
            workers = build_workers(
                client, ports, routing=RoutingTable.from_toml(settings.routing_file),
                entities=load_entities(settings.entities_file),
                recognition=load_recognition_methods(settings.plans_file),
                task_queue=settings.task_queue, erp_task_queue=settings.erp_task_queue,
                erp_max_postings_per_s=settings.erp_max_rps * settings.erp_max_batch,
                sandboxed=settings.workflow_sandbox,
                max_cached_workflows=settings.worker_max_cached_workflows,
                activation_executor=activations)
            async with contextlib.AsyncExitStack() as stack:
                for w in workers:
                    await stack.enter_async_context(w)
                log.info("worker_started", task_queues=[settings.task_queue,
                                                        settings.erp_task_queue],
                         temporal=settings.temporal_target,
                         metrics=metrics_server.url if metrics_server else None,
                         payload_encryption=client.data_converter.payload_codec is not None)
                print(f"worker polling {settings.task_queue} and {settings.erp_task_queue} "
                      f"on {settings.temporal_target}", flush=True)
                await stop.wait()
    finally:
        collections.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collections
        activations.shutdown(wait=False)
    unobserve()
    if metrics_server:
        metrics_server.close()


def main() -> None:
    settings = Settings()
    tune_gc()
    event_loop.run(run(settings), settings.event_loop)


if __name__ == "__main__":
    main()
