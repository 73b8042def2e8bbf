"""Composition root of the worker: settings -> adapters -> router -> activities -> Workers.

Two workers share one client: the main task queue runs workflows and non-ERP
activities; the ERP task queue runs ERP activities only, throttled server-side to
the ERP's request limit so the limit holds across every worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
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
from adapters.billing.port import BillingPort
from adapters.billing.stripe import StripeBillingAdapter
from adapters.crm.port import CrmPort
from adapters.crm.salesforce import SalesforceCrmAdapter, salesforce_client
from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.erp.batching import ErpBatcher
from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import TbaCredentials, netsuite_client
from adapters.erp.port import ErpPort
from adapters.erp.revenue_subledger import RevenueSubledger
from adapters.erp.routing import ErpRouter, RoutingTable
from adapters.erp.sandbox import SandboxErpAdapter
from adapters.payments.port import PaymentsPort
from adapters.payments.sandbox import SandboxPaymentsAdapter
from adapters.payments.stripe import STRIPE_VERSION, StripePaymentsAdapter, stripe_client
from adapters.provisioning.port import ProvisioningPort
from adapters.provisioning.sandbox import SandboxProvisioningAdapter
from adapters.provisioning.webhook import WebhookProvisioningAdapter
from adapters.rates.ecb import EcbRatesAdapter, ecb_client
from adapters.rates.port import RatePort
from adapters.rates.sandbox import SandboxRatesAdapter
from adapters.tax.avalara import AvalaraTaxAdapter, avatax_client
from adapters.tax.port import TaxPort
from adapters.tax.sandbox import SandboxTaxAdapter
from adapters.transport import async_client
from canonical.accounts import LegalEntity
from canonical.catalog import RecognitionMethod
from cli.cookbook import PARKED_NOW
from observability.interceptor import ObservabilityInterceptor
from observability.logging import configure_logging, get_logger
from observability.metrics import MetricsServer, observe_parked, sdk_runtime
from observability.parked import ParkedCount
from observability.tracing import client_interceptors, configure_tracing, has_tracing
from settings import (
    ERP_TARGETS,
    Settings,
    load_entities,
    load_recognition_methods,
)
from settings_secrets import Secrets, load_secrets
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
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
ERP_CONCURRENT_ACTIVITIES = 1000


@dataclass
class Ports:
    crm: CrmPort
    tax: TaxPort
    provisioning: ProvisioningPort
    erps: dict[str, ErpPort]
    # Exchange rates for foreign-currency documents (None: such documents park).
    rates: RatePort | None = None
    payments: PaymentsPort | None = None  # dunning retries; without it they park
    # the billing system told of a ladder's write-off (FlowConfig.close_written_off_upstream)
    billing: BillingPort | None = None


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


@contextlib.asynccontextmanager
async def configured_ports(settings: Settings,
                        secrets: Secrets | None = None) -> AsyncIterator[Ports]:
    """The adapters the settings name: the sandbox systems at their URLs (with their API
    tokens), and Stripe for payments and AvaTax for tax where the settings say so."""
    secrets = secrets or load_secrets()
    tokens = secrets.api_tokens
    async with contextlib.AsyncExitStack() as stack:
        def client(name: str) -> httpx.AsyncClient:
            headers = ({"Authorization": f"Bearer {tokens[name].get_secret_value()}"}
                       if name in tokens else None)
            c = async_client(settings.sandbox_url(name), timeout=HTTP_TIMEOUT, headers=headers)
            stack.push_async_callback(c.aclose)
            return c

        yield Ports(
            crm=(SandboxCrmAdapter(client("crm")) if settings.crm_connector == "sandbox"
                 else SalesforceCrmAdapter(await stack.enter_async_context(
                     salesforce_api(settings, secrets)), load_entities(settings.entities_file))),
            tax=(SandboxTaxAdapter(client("tax")) if settings.tax_connector == "sandbox"
                 else AvalaraTaxAdapter(await stack.enter_async_context(
                     avatax_api(settings, secrets)), companies=settings.avatax_companies,
                     ship_from=settings.avatax_ship_from)),
            provisioning=(SandboxProvisioningAdapter(client("provisioning"))
                          if settings.provisioning_connector == "sandbox"
                          else await provisioning_webhook(settings, secrets, stack)),
            erps=await erp_targets(settings, secrets, stack, client),
            rates=(SandboxRatesAdapter(client("rates")) if settings.rates_connector == "sandbox"
                   else EcbRatesAdapter(await stack.enter_async_context(ecb_client(
                       base_url=settings.ecb_api_base, timeout=HTTP_TIMEOUT)))),
            payments=(SandboxPaymentsAdapter(client("payments"))
                      if settings.payments_connector == "sandbox" else StripePaymentsAdapter(
                          await stack.enter_async_context(stripe_api(settings, secrets)))),
            billing=(None if settings.billing_connector == "none" else StripeBillingAdapter(
                await stack.enter_async_context(stripe_api(settings, secrets)))),
        )


async def erp_targets(settings: Settings, secrets: Secrets, stack: contextlib.AsyncExitStack,
                      client: Callable[[str], httpx.AsyncClient]) -> dict[str, ErpPort]:
    """The sandbox ERPs, and the NetSuite target (with its revenue sub-ledger) if set."""
    erps: dict[str, ErpPort] = {
        name: ErpBatcher(SandboxErpAdapter(name, client(name)),
                         max_batch=settings.erp_max_batch, max_rps=settings.erp_max_rps,
                         max_concurrency=settings.erp_max_concurrency)
        for name in ERP_TARGETS}
    if settings.netsuite_account_id is None:
        return erps
    name = settings.netsuite_target
    erps[name] = await netsuite_erp(settings, secrets, stack)
    sub = settings.netsuite_revenue_subledger
    if sub is not None:
        if sub not in ERP_TARGETS:
            raise ValueError(f"CASHLOOP_NETSUITE_REVENUE_SUBLEDGER must name a sandbox ERP "
                             f"target ({', '.join(ERP_TARGETS)}), not {sub!r}")
        erps[f"{name}-revenue"] = RevenueSubledger(f"{name}-revenue", subledger=erps[sub],
                                                   ledger=erps[name])
    return erps


def netsuite_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The NetSuite connector's client, every request signed (TBA)."""
    keys = (secrets.netsuite_consumer_key, secrets.netsuite_consumer_secret,
            secrets.netsuite_token_id, secrets.netsuite_token_secret)
    if settings.netsuite_account_id is None or any(k is None for k in keys):
        raise ValueError("CASHLOOP_NETSUITE_ACCOUNT_ID needs the token-based authentication "
                         "secrets CASHLOOP_NETSUITE_CONSUMER_KEY, _CONSUMER_SECRET, _TOKEN_ID "
                         "and _TOKEN_SECRET")
    ck, cs, tk, ts = (k.get_secret_value() for k in keys if k is not None)
    return netsuite_client(TbaCredentials(settings.netsuite_account_id, ck, cs, tk, ts),
                           base_url=settings.netsuite_api_base, timeout=HTTP_TIMEOUT)


async def netsuite_erp(settings: Settings, secrets: Secrets,
                       stack: contextlib.AsyncExitStack) -> ErpBatcher:
    """The NetSuite ERP target; a clear error at start without its ids or credentials.

    NetSuite governs concurrent requests, not a rate: no pacing per second, and small
    batches (each posting is a request of its own, in a row) so several run side by side.
    """
    keys = (secrets.netsuite_consumer_key, secrets.netsuite_consumer_secret,
            secrets.netsuite_token_id, secrets.netsuite_token_secret)
    if settings.netsuite_books is None or any(k is None for k in keys):
        raise ValueError("CASHLOOP_NETSUITE_ACCOUNT_ID needs CASHLOOP_NETSUITE_BOOKS and the "
                         "token-based authentication secrets CASHLOOP_NETSUITE_CONSUMER_KEY, "
                         "_CONSUMER_SECRET, _TOKEN_ID and _TOKEN_SECRET")
    client = await stack.enter_async_context(netsuite_api(settings, secrets))
    return ErpBatcher(NetSuiteErpAdapter(settings.netsuite_target, client,
                                         settings.netsuite_books),
                      max_batch=settings.netsuite_max_batch, max_rps=None,
                      max_concurrency=settings.erp_max_concurrency)


async def provisioning_webhook(settings: Settings, secrets: Secrets,
                               stack: contextlib.AsyncExitStack) -> WebhookProvisioningAdapter:
    """The provisioning webhook connector; a clear error at start without its endpoint."""
    url, secret = settings.provisioning_webhook_url, secrets.provisioning_webhook_secret
    if url is None or secret is None:
        raise ValueError("CASHLOOP_PROVISIONING_CONNECTOR=webhook needs "
                         "CASHLOOP_PROVISIONING_WEBHOOK_URL and "
                         "CASHLOOP_PROVISIONING_WEBHOOK_SECRET")
    client = await stack.enter_async_context(httpx.AsyncClient(timeout=HTTP_TIMEOUT))
    return WebhookProvisioningAdapter(client, url, secret.get_secret_value())


def salesforce_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The Salesforce CRM connector's client; a clear error at start without its org."""
    cid, secret = secrets.salesforce_client_id, secrets.salesforce_client_secret
    if settings.salesforce_domain is None or cid is None or secret is None:
        raise ValueError("CASHLOOP_CRM_CONNECTOR=salesforce needs CASHLOOP_SALESFORCE_DOMAIN "
                         "(https://{domain}.my.salesforce.com) and the connected app's "
                         "CASHLOOP_SALESFORCE_CLIENT_ID and CASHLOOP_SALESFORCE_CLIENT_SECRET")
    return salesforce_client(settings.salesforce_domain, cid.get_secret_value(),
                             secret.get_secret_value(), timeout=HTTP_TIMEOUT)


def stripe_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The Stripe payments connector's client; a clear error at start without its key."""
    if secrets.stripe_api_key is None:
        raise ValueError("CASHLOOP_PAYMENTS_CONNECTOR=stripe needs CASHLOOP_STRIPE_API_KEY: a "
                         "Stripe secret or restricted key that can read and pay invoices")
    return stripe_client(secrets.stripe_api_key.get_secret_value(),
                         base_url=settings.stripe_api_base,
                         version=settings.stripe_api_version or STRIPE_VERSION,
                         timeout=HTTP_TIMEOUT)


def avatax_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The AvaTax connector's client; a clear error at start without its credentials."""
    if settings.avatax_account_id is None or secrets.avatax_license_key is None:
        raise ValueError("CASHLOOP_TAX_CONNECTOR=avalara needs CASHLOOP_AVATAX_ACCOUNT_ID and "
                         "CASHLOOP_AVATAX_LICENSE_KEY")
    return avatax_client(settings.avatax_account_id,
                         secrets.avatax_license_key.get_secret_value(),
                         base_url=settings.avatax_api_base, timeout=HTTP_TIMEOUT)


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
