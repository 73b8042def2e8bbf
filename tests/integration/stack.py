"""The whole engine for integration tests: sandboxes over HTTP + workers on a real server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client

from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.erp.batching import ErpBatcher
from adapters.erp.routing import RoutingTable
from adapters.erp.sandbox import SandboxErpAdapter, SandboxErpReader
from adapters.payments.sandbox import SandboxPaymentsAdapter, SandboxPaymentsAdmin
from adapters.provisioning.sandbox import SandboxProvisioningAdapter
from adapters.rates.sandbox import SandboxRatesAdapter
from adapters.sandbox.faults import FaultSettings
from adapters.sandbox.serve import running_sandboxes
from adapters.tax.sandbox import SandboxTaxAdapter
from adapters.transport import async_client
from ports import Ports
from settings import ERP_TARGETS, PROJECT_ROOT, load_entities, load_recognition_methods
from tests.sandbox_harness import sqlite_stores
from worker import build_workers
from workflows.config import CODE_VERSION, FlowConfig

ENTITIES = load_entities(PROJECT_ROOT / "config" / "entities.toml")
ROUTING = RoutingTable.from_toml(PROJECT_ROOT / "config" / "routing.toml")
SANDBOXES = ["crm", "tax", "provisioning", "payments", *ERP_TARGETS, "rates"]


@dataclass
class Engine:
    client: Client
    config: FlowConfig
    urls: dict[str, str]
    readers: dict[str, SandboxErpReader]
    crm: SandboxCrmAdapter
    payments: SandboxPaymentsAdmin
    provisioning: SandboxProvisioningAdapter


@contextlib.asynccontextmanager
async def running_engine(client: Client, tmp: Path, *,
                         stores: Callable[[str], str] | None = None,
                         faults: Mapping[str, FaultSettings] | None = None,
                         routing: RoutingTable = ROUTING, erp_batching: bool = True,
                         **config: object) -> AsyncIterator[Engine]:
    """Sandboxes on free ports, workers on unique task queues, a FlowConfig for both.

    `routing` defaults to config/routing.toml (US01 split across both ERPs);
    `erp_batching` puts the worker's ErpBatcher in front of each ERP, as production does.
    """
    queue = f"it-{uuid.uuid4().hex[:10]}"
    flow = FlowConfig(code_version=CODE_VERSION, task_queue=queue,
                      erp_task_queue=f"{queue}-erp",
                      activity_initial_interval_s=0.2, **config)  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        urls = await stack.enter_async_context(running_sandboxes(
            SANDBOXES, stores or sqlite_stores(tmp), ENTITIES, faults))

        def http(name: str) -> httpx.AsyncClient:
            return async_client(urls[name], timeout=10)

        clients = {n: await stack.enter_async_context(http(n)) for n in SANDBOXES}
        ports = Ports(crm=SandboxCrmAdapter(clients["crm"]),
                      tax=SandboxTaxAdapter(clients["tax"]),
                      provisioning=SandboxProvisioningAdapter(clients["provisioning"]),
                      erps={n: ErpBatcher(SandboxErpAdapter(n, clients[n]), max_rps=25,
                                          max_concurrency=5)
                            if erp_batching else SandboxErpAdapter(n, clients[n])
                            for n in ERP_TARGETS},
                      rates=SandboxRatesAdapter(clients["rates"]),
                      payments=SandboxPaymentsAdapter(clients["payments"]))
        workers = build_workers(client, ports, routing=routing, entities=ENTITIES,
                                recognition=load_recognition_methods(
                                    PROJECT_ROOT / "config" / "plans.toml"),
                                task_queue=flow.task_queue, erp_task_queue=flow.erp_task_queue)
        for w in workers:
            await stack.enter_async_context(w)
        yield Engine(client=client, config=flow, urls=urls,
                     readers={n: SandboxErpReader(clients[n]) for n in ERP_TARGETS},
                     crm=SandboxCrmAdapter(clients["crm"]),
                     payments=SandboxPaymentsAdmin(clients["payments"]),
                     provisioning=SandboxProvisioningAdapter(clients["provisioning"]))
