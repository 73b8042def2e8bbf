"""Two gateways draining one store: every inbox row is forwarded once, each subscription in order.

Both forwarders read the same full queue at the same moment (PostgreSQL with
`FOR UPDATE SKIP LOCKED`, and SQLite), as two gateway processes would after Temporal
comes back; without claims both would send every row.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.sandbox.db import drop_schema
from gateway import forward_claims
from gateway.forwarder import Forwarder
from gateway.store import ForwardItem, now_utc, open_store
from tests.integration.gateway_harness import config, running_gateway, signalled_event_ids
from tests.integration.test_gateway_inbox import pending, scenario
from tests.sandbox_harness import postgres_or_skip
from workflows.config import FlowConfig


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield {"store_url": f"sqlite:///{tmp_path / 'gateway.db'}"}
        return
    url = postgres_or_skip()
    schema = f"gw_claims_{uuid.uuid4().hex[:10]}"
    yield {"store_url": url, "store_schema": schema}
    drop_schema(url, schema)


def engines(store: dict[str, Any], n: int) -> list[Engine]:
    """`n` engines (own connection pools, as separate processes have) on one store."""
    return [open_store(store["store_url"], store.get("store_schema", "gateway"))
            for _ in range(n)]


async def test_two_forwarders_forward_every_row_once_and_in_order(
        tmp_path: Path, store: dict[str, Any], dev_env: WorkflowEnvironment) -> None:
    events = scenario(12)  # 84 events of 12 subscriptions
    async with running_gateway(config(tmp_path, **store)) as gw:  # Temporal away: it queues
        assert (await gw.post_events(events)).status_code == 202

    async def connect() -> Client:
        return dev_env.client

    flow = FlowConfig(task_queue="gateway-test-unpolled")
    first, second = (Forwarder(e, connect, flow, batch=50, max_hold_s=0.0)
                     for e in engines(store, 2))
    delivered = 0
    for _ in range(50):
        if await asyncio.to_thread(pending, first._engine) == 0:
            break
        sent = await asyncio.gather(first.drain_once(), second.drain_once())
        delivered += sum(sent)
    assert delivered == len(events)  # no row went out twice
    for n in range(12):
        sub = events[n * 7]["keys"]["subscription_id"]
        assert await signalled_event_ids(dev_env.client, sub) == [
            e["event_id"] for e in events[n * 7:(n + 1) * 7]]


def queue_rows(engine: Engine, subscriptions: int, per: int) -> None:
    with Session(engine) as s:
        for n in range(per):
            for sub in range(subscriptions):
                s.add(ForwardItem(inbox_id=0, subscription_id=f"sub_{sub}",
                                  event_id=f"e_{sub}_{n}", event_type="x", event={},
                                  not_before=now_utc()))
        s.commit()


def test_concurrent_claims_are_disjoint_and_keep_a_subscription_with_one_claimer(
        store: dict[str, Any]) -> None:
    engine_list = engines(store, 4)
    queue_rows(engine_list[0], subscriptions=10, per=20)
    claimed: list[tuple[str, list[ForwardItem]]] = []
    lock, start = threading.Lock(), threading.Barrier(len(engine_list))

    def claimer(engine: Engine) -> None:
        owner = forward_claims.owner_id()
        start.wait()
        for _ in range(2000):
            rows = forward_claims.claim(engine, owner, 30, 0.0, 60.0)
            if not rows:
                # Empty is not done: another claimer may hold older rows of the same
                # subscriptions, and ours were given back. The forwarder polls again.
                if pending(engine) == 0:
                    return
                time.sleep(0.005)
                continue
            with lock:
                claimed.append((owner, rows))
            with Session(engine) as s:  # sent: as the forwarder marks them
                for row in s.exec(select(ForwardItem).where(
                        col(ForwardItem.id).in_([r.id for r in rows]))).all():
                    row.forwarded_at = now_utc()
                    s.add(row)
                s.commit()

    threads = [threading.Thread(target=claimer, args=(e,)) for e in engine_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.id for _, rows in claimed for r in rows]
    assert len(set(ids)) == len(ids) == 200  # every row claimed once
    # Each subscription's rows were claimed oldest first, across claimers.
    for sub in range(10):
        order = [r.id for _, rows in claimed for r in rows if r.subscription_id == f"sub_{sub}"]
        assert order == sorted(i for i in order if i is not None)  # stored rows have ids


def test_an_expired_claim_is_taken_over(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'gateway.db'}")
    queue_rows(engine, subscriptions=1, per=3)
    assert len(forward_claims.claim(engine, "dead", 10, 0.0, lease_s=-1.0)) == 3
    taken = forward_claims.claim(engine, "alive", 10, 0.0, lease_s=60.0)
    assert [r.claimed_by for r in taken] == ["alive"] * 3
    assert forward_claims.claim(engine, "third", 10, 0.0, lease_s=60.0) == []


def test_a_store_from_before_claims_gets_the_claim_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as db:  # the forward queue as the first release made it
        db.execute("ALTER TABLE forward_queue DROP COLUMN claimed_by")
        db.execute("ALTER TABLE forward_queue DROP COLUMN claimed_until")
    engine = open_store(f"sqlite:///{path}")
    queue_rows(engine, subscriptions=1, per=1)
    assert len(forward_claims.claim(engine, uuid.uuid4().hex, 10, 0.0, 60.0)) == 1
