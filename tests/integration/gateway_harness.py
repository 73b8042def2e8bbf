"""The gateway for tests: the real app over a real store, in-process (ASGI) or on a port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.client import Client

from canonical.customer import CustomerAccount
from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.service import Gateway
from gateway.signatures import sign
from gateway.sources.customers import CustomerMap, parse_customers
from settings import PROJECT_ROOT, load_entities
from workflows.config import FlowConfig
from workflows.subscription import entity_workflow_id

API_KEY = "test-key"
SECRET = "whsec_test_current"
ENTITIES = load_entities(PROJECT_ROOT / "config" / "entities.toml")
CUSTOMERS_TOML = (PROJECT_ROOT / "config" / "stripe_customers.toml").read_text()


def demo_customers() -> dict[str, CustomerAccount]:
    return parse_customers(CUSTOMERS_TOML)


async def no_temporal() -> Client:
    raise RuntimeError("Temporal is not reachable (test)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(tmp: Path, *, connect: Callable[[], Awaitable[Client]] = no_temporal,
           customers: CustomerMap | None = None, store_url: str | None = None,
           crm_url: str = "http://127.0.0.1:9", tax_url: str = "http://127.0.0.1:9",
           flow: FlowConfig | None = None, **overrides: Any) -> GatewayConfig:
    settings: dict[str, Any] = {"resequence_window_s": 0.0, "post_validation_every_s": 3600.0}
    settings.update(overrides)
    return GatewayConfig(
        store_url=store_url or f"sqlite:///{tmp / 'gateway.db'}",
        api_keys={"billing": API_KEY, "crm": "other-key"}, webhook_secrets=[SECRET],
        flow=flow or FlowConfig(task_queue="gateway-test-unpolled"), connect=connect,
        crm_url=crm_url, tax_url=tax_url, entities=ENTITIES,
        customers=customers or CustomerMap(customers=demo_customers()), **settings)


@dataclass
class Running:
    gw: Gateway
    http: httpx.AsyncClient

    async def post_events(self, body: Any, key: str = API_KEY) -> httpx.Response:
        content = body if isinstance(body, bytes | str) else json.dumps(body)
        return await self.http.post("/v1/events", content=content, headers={"X-API-Key": key})

    async def post_stripe(self, event: dict[str, Any] | bytes,
                          secret: str = SECRET) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        return await self.http.post("/v1/webhooks/stripe", content=body,
                                    headers={"Stripe-Signature": sign(body, secret)})


@contextlib.asynccontextmanager
async def running_gateway(cfg: GatewayConfig) -> AsyncIterator[Running]:
    """The app with its lifespan (inbox writer, forwarder), called in-process over ASGI."""
    app = create_app(cfg)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway",
            timeout=60) as http:
        yield Running(app.state.gateway, http)


@contextlib.asynccontextmanager
async def served_gateway(cfg: GatewayConfig) -> AsyncIterator[tuple[str, Gateway]]:
    """The app under uvicorn on a free loopback port; yields (base URL, gateway)."""
    app = create_app(cfg)
    port = free_port()
    # log_config=None: leave the process's logging alone (other tests capture it)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_keep_alive=30,
                                           log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app.state.gateway
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Awaitable[bool]], limit_s: float = 60.0,
                     every: float = 0.2) -> None:
    """Poll until `check()` is true (generous deadline; never assert on timing)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def signalled_event_ids(client: Client, subscription_id: str) -> list[str]:
    """Event ids delivered to `subscription-{id}` by signals, in history order."""
    handle = client.get_workflow_handle(entity_workflow_id(subscription_id))
    history = await handle.fetch_history()
    ids: list[str] = []
    for event in history.events:
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            for payload in attrs.input.payloads:
                value = json.loads(payload.data)
                batch = value if isinstance(value, list) else [value]
                ids.extend(item["event_id"] for item in batch)
    return ids
