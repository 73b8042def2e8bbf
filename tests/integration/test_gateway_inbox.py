"""The durable inbox under load and while Temporal is away: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.sandbox.db import drop_schema
from canonical.money import Money
from canonical.schemas import dump_event
from devstack import streams
from devstack.binaries import temporal_cli
from gateway.store import ForwardItem, InboxMessage
from payload_converter import shared_data_converter
from tests.integration.gateway_harness import (
    API_KEY,
    config,
    eventually,
    free_port,
    served_gateway,
    signalled_event_ids,
)
from tests.sandbox_harness import postgres_or_skip


def scenario(subscriptions: int) -> list[dict[str, Any]]:
    """`subscriptions` x 7 canonical events: activation, 3 invoices, 3 payments each."""
    events: list[dict[str, Any]] = []
    tag = uuid.uuid4().hex[:8]
    for n in range(subscriptions):
        life = streams.lifecycle(f"sub_inbox_{tag}_{n}", streams.customer(
            f"cus_inbox_{tag}_{n}", "US"), dt.date(2026, 1, 1), months=12)
        life.activate()
        for month in range(3):
            start = streams.add_months(dt.date(2026, 1, 1), month)
            inv = life.invoice(f"in_{tag}_{n}_{month}", start, streams.add_months(start, 1))
            life.pay(f"py_{tag}_{n}_{month}", inv.invoice_id, Money.of("100", "USD"), start)
        events += [dump_event(e) for e in life.events]
    return events


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield {"store_url": f"sqlite:///{tmp_path / 'gateway.db'}"}
        return
    url = postgres_or_skip()
    schema = f"gw_test_{uuid.uuid4().hex[:10]}"
    yield {"store_url": url, "store_schema": schema}
    drop_schema(url, schema)


def pending(engine: Any) -> int:
    with Session(engine) as s:
        return len(s.exec(select(ForwardItem).where(ForwardItem.forwarded_at == None)).all())  # noqa: E711


async def post_all(base_url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        return await asyncio.gather(*(http.post("/v1/events", json=b,
                                                headers={"X-API-Key": API_KEY})
                                      for b in bodies))


async def test_500_concurrent_posts_with_30_percent_duplicates_forward_each_event_once(
        tmp_path: Path, store: dict[str, Any], dev_env: WorkflowEnvironment) -> None:
    unique = scenario(50)  # 350 events
    rng = random.Random(5)
    posts = unique + rng.sample(unique, 150)  # 500 posts, 30 % of them redeliveries
    rng.shuffle(posts)

    async def connect() -> Client:
        return dev_env.client

    async with served_gateway(config(tmp_path, connect=connect, **store)) as (url, gw):
        answers = await post_all(url, posts)
        assert Counter(a.status_code for a in answers) == {202: 350, 200: 150}
        assert sum(a.json()["duplicate"] for a in answers) == 150
        with Session(gw.engine) as s:
            inbox = s.exec(select(InboxMessage)).all()
            queued = s.exec(select(ForwardItem)).all()
        assert len(inbox) == 350 and len({m.source_event_id for m in inbox}) == 350
        assert sorted(r.event_id for r in queued) == sorted(e["event_id"] for e in unique)

        async def drained() -> bool:
            return await asyncio.to_thread(pending, gw.engine) == 0

        await eventually(drained, limit_s=120)
    expected: dict[str, list[str]] = {}
    for e in unique:
        expected.setdefault(e["keys"]["subscription_id"], []).append(e["event_id"])
    for sub_id, ids in expected.items():
        delivered = await signalled_event_ids(dev_env.client, sub_id)
        assert sorted(delivered) == sorted(ids), sub_id  # each exactly once


@pytest.fixture
async def late_temporal() -> AsyncIterator[tuple[int, list[WorkflowEnvironment]]]:
    """A port where Temporal is not (yet) running; the test starts it there later."""
    port = free_port()
    started: list[WorkflowEnvironment] = []
    yield port, started
    for env in started:
        await env.shutdown()


async def test_gateway_accepts_while_temporal_is_down_and_drains_in_order_after(
        tmp_path: Path, late_temporal: tuple[int, list[WorkflowEnvironment]]) -> None:
    port, started = late_temporal

    async def connect() -> Client:
        return await Client.connect(f"127.0.0.1:{port}", data_converter=shared_data_converter)

    events = scenario(3)
    cfg = config(tmp_path, connect=connect)
    async with served_gateway(cfg) as (url, gw):
        answers = await post_all(url, events)
        assert {a.status_code for a in answers} == {202}
        async with httpx.AsyncClient(base_url=url) as http:
            health = (await http.get("/v1/health")).json()
            assert health["status"] == "degraded" and health["temporal"]["ok"] is False
            assert health["database"]["ok"] is True
            assert (await http.get("/v1/backlog")).json()["pending"] == len(events)
            assert "cashloop_gateway_backlog_events 21" in (await http.get("/metrics")).text
        env = await WorkflowEnvironment.start_local(
            port=port, data_converter=shared_data_converter,
            dev_server_existing_path=temporal_cli())
        started.append(env)

        async def drained() -> bool:
            return await asyncio.to_thread(pending, gw.engine) == 0

        await eventually(drained, limit_s=120)
        for n in range(3):
            sub_id = events[n * 7]["keys"]["subscription_id"]
            delivered = await signalled_event_ids(env.client, sub_id)
            assert delivered == [e["event_id"] for e in events[n * 7:(n + 1) * 7]]


async def test_stripe_events_arriving_out_of_order_are_forwarded_in_lifecycle_order(
        tmp_path: Path, dev_env: WorkflowEnvironment) -> None:
    from devstack import stripe_events as se

    tag = uuid.uuid4().hex[:8]
    cus, sub, inv = "cus_R2mGlobexAG01", f"sub_reseq_{tag}", f"in_reseq_{tag}"
    start = se.unix(dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC))
    price = se.price("price_1Reseq", "prod_Reseq", 1000, "eur")
    line = se.invoice_line(f"il_reseq_{tag}", inv, sub, 1000, "eur", start, start + 30 * 86400,
                           price_id="price_1Reseq", tax=(190, 1000, "txr_x"))
    created = se.event(f"evt_a_{tag}", "customer.subscription.created", start,
                       se.subscription(sub, cus, [("si_reseq", price, 1)], start,
                                       start + 30 * 86400))
    finalized = se.event(f"evt_b_{tag}", "invoice.finalized", start + 60, se.invoice(
        inv, cus, sub, "eur", [line], status="open", billing_reason="subscription_create",
        finalized_at=start + 60))
    paid = se.event(f"evt_c_{tag}", "invoice.paid", start + 120, se.invoice(
        inv, cus, sub, "eur", [line], status="paid", billing_reason="subscription_create",
        finalized_at=start + 60, paid_at=start + 120, payment_intent=f"pi_{tag}"))

    async def connect() -> Client:
        return dev_env.client

    # the payment first, then the invoice, then the subscription: as Stripe may deliver
    async with served_gateway(config(tmp_path, connect=connect, resequence_window_s=1.0)) as (
            url, gw):
        async with httpx.AsyncClient(base_url=url) as http:
            from gateway.signatures import sign
            from tests.integration.gateway_harness import SECRET
            for event in (paid, finalized, created):
                body = json.dumps(event).encode()
                answer = await http.post("/v1/webhooks/stripe", content=body,
                                         headers={"Stripe-Signature": sign(body, SECRET)})
                assert answer.status_code == 202

        async def drained() -> bool:
            return await asyncio.to_thread(pending, gw.engine) == 0

        await eventually(drained)
    assert await signalled_event_ids(dev_env.client, sub) == [
        f"stripe:subscription:{sub}:activated", f"stripe:invoice:{inv}:issued",
        f"stripe:payment:pi_{tag}:succeeded"]
