"""The durable inbox: accepted messages are committed (group commit) before the 2xx answer.

Concurrent requests hand their rows to one writer, which commits whatever has queued up
in one transaction; each request is answered once its transaction has committed. A
source event id already in the inbox is a duplicate: nothing new is written for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from canonical.schemas import dump_event

from .sources.base import Mapped, Route
from .store import DeadLetter, ForwardItem, InboxMessage, Reference, now_utc

MAX_BATCH = 256


@dataclass
class Accepted:
    """One message to keep: raw form, provenance and what it mapped to."""

    channel: str
    source: str
    mapped: Mapped
    body: str
    headers: dict[str, Any]
    mapping_version: str
    hold_s: float = 0.0  # resequencing window before the forwarder may send it
    dead_letter_id: int | None = None
    received_at: dt.datetime = field(default_factory=now_utc)


@dataclass(frozen=True)
class Receipt:
    inbox_id: int | None
    duplicate: bool


def _insert(engine: Engine) -> Any:
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def write(engine: Engine, batch: list[Accepted]) -> list[Receipt]:
    """Commit a batch in one transaction; one receipt per message, in order."""
    insert = _insert(engine)
    firsts: dict[tuple[str, str], int] = {}
    for i, acc in enumerate(batch):
        firsts.setdefault((acc.channel, acc.mapped.source_event_id), i)
    rows = [{
        "channel": acc.channel, "source_event_id": acc.mapped.source_event_id,
        "source": acc.source, "event_type": acc.mapped.event_type,
        "received_at": acc.received_at, "mapping_version": acc.mapping_version,
        "headers": acc.headers, "body": acc.body,
        "status": "ignored" if not acc.mapped.events else "accepted",
        "note": acc.mapped.ignored, "dead_letter_id": acc.dead_letter_id,
    } for i, acc in enumerate(batch) if firsts[(acc.channel, acc.mapped.source_event_id)] == i]
    inbox_table = InboxMessage.__table__
    with Session(engine) as s:
        conn = s.connection()
        # Core executemany ("insertmanyvalues"): one cached statement, batched round trips
        stmt = insert(inbox_table).on_conflict_do_nothing(
            index_elements=["channel", "source_event_id"]).returning(
            inbox_table.c.id, inbox_table.c.channel, inbox_table.c.source_event_id)
        inserted = {(c, e): i for i, c, e in conn.execute(stmt, rows).all()}
        forward, refs = [], {}
        for i, acc in enumerate(batch):
            key = (acc.channel, acc.mapped.source_event_id)
            inbox_id = inserted.get(key)
            if inbox_id is None or firsts[key] != i:
                continue
            not_before = acc.received_at + dt.timedelta(seconds=acc.hold_s)
            for event, order in zip(acc.mapped.events, acc.mapped.order_keys, strict=True):
                forward.append({"inbox_id": inbox_id, "subscription_id": event.subscription_id,
                                "event_id": event.event_id, "event_type": event.event_type,
                                "order_key": order, "event": dump_event(event),
                                "not_before": not_before, "attempts": 0})
            for route in acc.mapped.routes:
                refs[(acc.channel, route.object_id)] = _route_row(acc.channel, route)
        if forward:
            conn.execute(insert(ForwardItem.__table__), forward)
        if refs:
            conn.execute(insert(Reference.__table__).on_conflict_do_nothing(), list(refs.values()))
        if inserted:
            replaying = {acc.dead_letter_id for acc in batch if acc.dead_letter_id}
            _supersede_dead_letters(s, inserted, replaying)
        s.commit()
    receipts = []
    for i, acc in enumerate(batch):
        key = (acc.channel, acc.mapped.source_event_id)
        fresh = firsts[key] == i and key in inserted
        receipts.append(Receipt(inserted.get(key), duplicate=not fresh))
    return receipts


def _route_row(channel: str, route: Route) -> dict[str, Any]:
    return {"channel": channel, "object_id": route.object_id,
            "subscription_id": route.subscription_id, "customer_id": route.customer_id,
            "invoice_id": route.invoice_id}


def _supersede_dead_letters(s: Session, inserted: dict[tuple[str, str], int],
                            replaying: set[int]) -> None:
    """A redelivery that now maps resolves the dead letters of its earlier attempts
    (a replayed letter itself is marked by the replay)."""
    ids = [e for _, e in inserted]
    found = s.execute(select(col(DeadLetter.id), col(DeadLetter.channel),
                             col(DeadLetter.source_event_id), col(DeadLetter.history))
                      .where(col(DeadLetter.status) == "open",
                             col(DeadLetter.source_event_id).in_(ids))).all()
    for dl_id, channel, event_id, history in found:
        inbox_id = inserted.get((channel, event_id))
        if inbox_id is None or dl_id in replaying:
            continue
        entry = {"at": now_utc().isoformat(), "action": "superseded",
                 "outcome": f"redelivered and accepted as inbox #{inbox_id}"}
        s.execute(update(DeadLetter).where(col(DeadLetter.id) == dl_id).values(
            status="superseded", inbox_id=inbox_id, history=[*(history or []), entry]))


class Inbox:
    """Group-commit writers in front of `write` for the request handlers.

    SQLite takes one writer at a time anyway; on PostgreSQL several writers overlap their
    commits. A request's messages always go in one transaction, so its events keep their
    order; concurrent requests have no order between them to keep.
    """

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH,
                 writers: int | None = None) -> None:
        self.engine = engine
        self._max_batch = max_batch
        self._writers = writers or 1
        self._queue: asyncio.Queue[tuple[list[Accepted], asyncio.Future[list[Receipt]]]] = (
            asyncio.Queue())
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(), name=f"inbox-writer-{n}")
                           for n in range(self._writers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def put(self, acc: Accepted) -> Receipt:
        """Queue one message; returns once it is committed (or raises what the DB raised)."""
        return (await self.put_many([acc]))[0]

    async def put_many(self, batch: list[Accepted]) -> list[Receipt]:
        """Queue messages that commit together, in this order."""
        self.start()
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        await self._queue.put((batch, future))
        return await future

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            size = len(items[0][0])
            while size < self._max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
                size += len(items[-1][0])
            try:
                receipts = await asyncio.to_thread(write, self.engine,
                                                   [a for batch, _ in items for a in batch])
            except Exception as exc:  # the DB is down: every waiter gets the error (-> 503)
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for batch, future in items:
                if not future.done():
                    future.set_result(receipts[start:start + len(batch)])
                start += len(batch)


class StoreRoutes:
    """`Routes` over the references table, with a small in-process cache."""

    def __init__(self, engine: Engine, channel: str, cache_size: int = 10_000) -> None:
        self._engine = engine
        self._channel = channel
        self._cache: OrderedDict[str, Route] = OrderedDict()
        self._size = cache_size

    def route_of(self, object_id: str) -> Route | None:
        if object_id in self._cache:
            self._cache.move_to_end(object_id)
            return self._cache[object_id]
        with Session(self._engine) as s:
            ref = s.get(Reference, (self._channel, object_id))
        if ref is None:
            return None
        route = Route(ref.object_id, ref.subscription_id, ref.customer_id, ref.invoice_id)
        self._cache[object_id] = route
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return route
