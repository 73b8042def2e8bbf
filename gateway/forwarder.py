"""The forwarder: inbox events -> Temporal (signal-with-start `submit_batch` per subscription).

It drains the forward queue oldest first. Each subscription's pending events go in one
`submit_batch` signal (signal-with-start on `subscription-{id}`), sorted by the
resequencing key; a subscription whose send fails keeps all its rows pending, so the
next round retries them in the same order (never a later event before an earlier one).
Rows are claimed before they are sent (gateway/forward_claims.py: a lease per row,
`FOR UPDATE SKIP LOCKED` on PostgreSQL), so gateway processes sharing one store never
forward the same row twice and one subscription is sent by one of them at a time.
When Temporal is down the queue simply grows — intake never waits for Temporal — and
the forwarder catches up when it returns. Delivery is at least once; the entity drops
a repeat by event id, so a crash between signal and mark costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from canonical.schemas import parse_event
from workflows.config import FlowConfig
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionInput

from .engine_backlog import EngineBacklog
from .forward_claims import claim, owner_id, release
from .store import ForwardItem, now_utc

log = structlog.get_logger("cashloop.gateway.forwarder")

RPC_TIMEOUT = dt.timedelta(seconds=10)
MAX_EVENTS_PER_SIGNAL = 100


@dataclass
class Backlog:
    pending: int
    oldest_pending_at: dt.datetime | None
    subscriptions: int
    forwarded: int


def backlog(engine: Engine) -> Backlog:
    """Depth of the forward queue (events not yet delivered to Temporal)."""
    pending = col(ForwardItem.forwarded_at).is_(None)
    with Session(engine) as s:
        count, oldest, subs = s.exec(select(
            func.count(), func.min(ForwardItem.not_before),
            func.count(func.distinct(ForwardItem.subscription_id))).where(pending)).one()
        done = s.exec(select(func.count()).where(col(ForwardItem.forwarded_at).is_not(None))
                      .select_from(ForwardItem)).one()
    return Backlog(pending=int(count), oldest_pending_at=oldest, subscriptions=int(subs),
                   forwarded=int(done))


def _mark(engine: Engine, ids: list[int], error: str | None) -> None:
    """Sent (claim kept as a record of who sent it), or failed (claim given back)."""
    with Session(engine) as s:
        stmt = update(ForwardItem).where(col(ForwardItem.id).in_(ids),
                                         col(ForwardItem.forwarded_at).is_(None))
        if error is None:
            stmt = stmt.values(forwarded_at=now_utc(), attempts=ForwardItem.attempts + 1,
                               last_error=None)
        else:
            stmt = stmt.values(attempts=ForwardItem.attempts + 1, last_error=error[:500],
                               claimed_by=None, claimed_until=None)
        s.execute(stmt)
        s.commit()


class Forwarder:
    """Delivers the forward queue to the subscription entities.

    Args:
        connect: returns a connected Temporal client (called again after failures).
        config: the FlowConfig new subscription workflows start with.
        engine_backlog: holds forwarding back while the engine's workflow tasks queue
            up (gateway/engine_backlog.py); None forwards as fast as Temporal accepts.
    """

    def __init__(self, engine: Engine, connect: Callable[[], Awaitable[Client]],
                 config: FlowConfig, *, batch: int = 1000, concurrency: int = 16,
                 idle_s: float = 0.2, max_backoff_s: float = 5.0,
                 max_hold_s: float = 30.0, lease_s: float = 120.0,
                 owner: str | None = None,
                 engine_backlog: EngineBacklog | None = None) -> None:
        self._engine = engine
        self._connect = connect
        self._config = config
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._max_hold_s = max_hold_s
        # Claims (gateway/forward_claims.py): several gateways may drain one store.
        self._lease_s = lease_s
        self.owner = owner or owner_id()
        self.engine_backlog = engine_backlog
        self._client: Client | None = None
        self.last_error: str | None = None
        self.forwarded_total = 0
        self.signals_total = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New rows were committed: look now instead of at the next idle tick."""
        self._wake.set()

    def reset_client(self) -> None:
        """Drop the client so the next use connects afresh."""
        self._client = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    async def drain_once(self) -> int:
        """Send what is ready now; returns the number of events delivered."""
        client = await self.client()  # first: no point reading the queue while Temporal is away
        budget = await self.engine_backlog.budget(client) if self.engine_backlog else None
        if budget == 0:
            return 0
        # a claimed row costs at most one signal: claiming no more rows than the budget
        # keeps the signals within it
        limit = self._batch if budget is None else min(self._batch, budget)
        rows = await asyncio.to_thread(claim, self._engine, self.owner, limit,
                                       self._max_hold_s, self._lease_s)
        if not rows:
            return 0
        signals_before = self.signals_total
        groups: dict[str, list[ForwardItem]] = defaultdict(list)
        for row in rows:
            groups[row.subscription_id].append(row)
        results = await asyncio.gather(*(self._send(client, sub, items)
                                         for sub, items in groups.items()),
                                       return_exceptions=True)
        delivered = sum(r for r in results if isinstance(r, int))
        if self.engine_backlog and budget is not None:
            self.engine_backlog.spend(self.signals_total - signals_before)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # what a failed subscription did not send goes back to the queue
            await asyncio.to_thread(release, self._engine, self.owner,
                                    [r.id for r in rows if r.id is not None])
        if errors and not delivered:
            raise errors[0]
        return delivered

    async def _send(self, client: Client, subscription_id: str, rows: list[ForwardItem]) -> int:
        rows.sort(key=lambda r: (r.order_key, r.id or 0))
        # The same canonical event from two source events (e.g. invoice.paid carrying the
        # invoice that invoice.finalized also brings) is sent once; both rows are marked.
        seen: set[str] = set()
        unique: list[ForwardItem] = []
        repeats: list[ForwardItem] = []
        for row in rows:
            (repeats if row.event_id in seen else unique).append(row)
            seen.add(row.event_id)
        if repeats:
            await asyncio.to_thread(_mark, self._engine, [r.id for r in repeats if r.id], None)
            rows = unique
        delivered = 0
        async with self._limit:
            for start in range(0, len(rows), MAX_EVENTS_PER_SIGNAL):
                chunk = rows[start:start + MAX_EVENTS_PER_SIGNAL]
                ids = [r.id for r in chunk if r.id is not None]
                try:
                    events: list[Any] = [parse_event(r.event) for r in chunk]
                    await client.start_workflow(
                        SubscriptionWorkflow.run,
                        SubscriptionInput(subscription_id=subscription_id, config=self._config),
                        id=entity_workflow_id(subscription_id), task_queue=self._config.task_queue,
                        start_signal="submit_batch", start_signal_args=[events],
                        rpc_timeout=RPC_TIMEOUT)
                except Exception as exc:  # Temporal down or slow: keep the rows, retry later
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    await asyncio.to_thread(_mark, self._engine, ids, self.last_error)
                    raise
                await asyncio.to_thread(_mark, self._engine, ids, None)
                delivered += len(chunk)
                self.forwarded_total += len(chunk)
                self.signals_total += 1
        return delivered

    async def run(self) -> None:
        """Drain forever: at once while there is work, idle ticks otherwise, backoff on errors."""
        backoff = 0.0
        while True:
            try:
                sent = await self.drain_once()
                backoff = 0.0
                self.last_error = None if sent else self.last_error
            except Exception as exc:
                self._client = None if _connection_error(exc) else self._client
                self.last_error = f"{type(exc).__name__}: {exc}"
                backoff = min(self._max_backoff_s, max(0.2, backoff * 2))
                log.warning("forward_failed", error=self.last_error, retry_in_s=backoff)
                await asyncio.sleep(backoff)
                continue
            if not sent:
                self._wake.clear()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                # that races with the wake-up, and the task would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_s):
                        await self._wake.wait()


def _connection_error(exc: Exception) -> bool:
    """Errors after which a fresh client is worth trying (connect failures, RPC unavailable)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("connect", "unavailable", "transport", "deadline"))
