"""Shared by the security and observability tests: a scenario seeded with distinctive
personal data, an encrypted client on the session's dev server, and ASGI apps served
over real HTTP on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp
from temporalio.client import Client

from canonical.customer import Address, Party
from devstack import streams
from security.codec import data_converter
from security.keys import KeyRing
from tests.integration.stack import Engine

# Personal data that must never show in logs or in Temporal's stored history.
PII = {
    "name": "Quenby Zanzibar-Okonkwo",
    "company": "Zanzibar Quokka Holdings GmbH",
    "email": "quenby.zanzibar@quokka-holdings.test",
    "phone": "+49 30 98765432",
    "street": "Quokkastraße 42",
    "tax_id": "DE987654321",
}
PRICE = "4321.98"  # distinctive amount; the net price of the seeded plan


def pii_lifecycle(sub_id: str, *, invoice: bool = True) -> streams.Lifecycle:
    """One DE subscription whose customer carries every kind of seeded PII."""
    address = Address(line1=PII["street"], city="Berlin", postal_code="10117", country="DE")
    party = Party(name=PII["name"], email=PII["email"], phone=PII["phone"], address=address)
    customer = streams.customer(f"cus_{sub_id}", "DE").model_copy(
        update={"name": PII["company"], "bill_to": party, "tax_id": PII["tax_id"]})
    life = streams.lifecycle(sub_id, customer, dt.date(2026, 2, 1),
                             plans=[(streams.plan("pro-annual", "EUR", PRICE), 1)])
    life.activate()
    if invoice:
        life.invoice(f"in_{sub_id}", life.subscription.term_start, life.subscription.term_end)
    return life


def pii_strings() -> list[str]:
    return [*PII.values(), PRICE]


def encrypted_client(plain: Client, ring: KeyRing) -> Client:
    """A client on the same connection whose payloads are encrypted with `ring`."""
    return Client(plain.service_client, namespace=plain.namespace,
                  data_converter=data_converter(ring))


async def settle(engine: Engine, expected: Counter[str]) -> None:
    from cli.status import subscription_views

    views: list = []
    for _ in range(600):
        views = await subscription_views(engine.client, sorted(expected))
        if len(views) == len(expected) and all(
                v.events_applied >= expected[v.subscription_id] and not v.pending
                and not v.busy and not v.parked for v in views):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {views}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                    lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


_SPANS: object | None = None


def memory_spans() -> object:
    """The in-memory span exporter behind this process's global tracer provider (set once)."""
    global _SPANS
    if _SPANS is None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _SPANS = exporter
    return _SPANS
