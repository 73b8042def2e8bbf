"""Coalescing of concurrent ERP postings into batch calls, paced to the ERP's limits.

Many subscription workflows post to one ERP at once (an invoice run). Each of their
ERP activities hands its postings to the ERP's `ErpBatcher`, which sends them
together — up to `max_batch` postings per call, at most `max_rps` calls a second
and `max_concurrency` calls in flight — and gives every caller its own outcome. So
the ERP sees few, full calls paced under its limit (no 429s), and one refused
posting fails only the activity that sent it.

The limits hold per worker process: with W ERP workers give each 1/W of the ERP's
limit (docs/performance.md). The ERP task queue's server-side activity limit bounds
all workers together on top of that.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry import context as otel_context

from canonical.errors import CashloopError

from .port import ErpReceipt, OpenRevenuePeriod, PeriodLock, Posting


class BatchCapableErp(Protocol):
    name: str

    async def post_each(self, postings: list[Posting], correlation_ids: list[str]
                        ) -> list[ErpReceipt | CashloopError]: ...

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt: ...

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt: ...

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt: ...

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]: ...

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock: ...


class Pacer:
    """At most `rate` starts a second, evenly spaced (no bursts), and `concurrency` at once."""

    def __init__(self, rate: float | None, concurrency: int | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None

    async def acquire(self) -> None:
        if self._slots is not None:
            await self._slots.acquire()
        if self._interval:
            async with self._lock:
                now = time.monotonic()
                wait = self._next - now
                self._next = max(now, self._next) + self._interval
            if wait > 0:
                await asyncio.sleep(wait)

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()


@dataclass
class _Item:
    posting: Posting
    correlation_id: str
    outcome: asyncio.Future[ErpReceipt] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    # The caller's trace context: the batch call's span is a child of its first item's.
    trace: otel_context.Context = field(default_factory=otel_context.get_current)


class ErpBatcher:
    """An `ErpPort` that batches `post` across callers; other calls pass through paced."""

    def __init__(self, inner: BatchCapableErp, *, max_batch: int = 100,
                 max_rps: float | None = None, max_concurrency: int | None = None,
                 linger_s: float = 0.02) -> None:
        self.name = inner.name
        self.domains = getattr(inner, "domains", None)
        self._inner = inner
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._pacer = Pacer(max_rps, max_concurrency)
        self._queue: list[_Item] = []
        self._wakeup: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        """Queue the postings for the next batch call; raises the first failed one's error."""
        items = [_Item(p, correlation_id) for p in postings]
        self._queue.extend(items)
        self._ensure_flusher()
        assert self._wakeup is not None
        self._wakeup.set()
        results = await asyncio.gather(*(i.outcome for i in items), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, ErpReceipt)]

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._wakeup = asyncio.Event()
            self._flusher = asyncio.create_task(self._flush_forever(),
                                                name=f"erp-batcher-{self.name}")

    async def _flush_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                if len(self._queue) < self._max_batch:
                    # let the callers that are about to post join this call
                    await asyncio.sleep(self._linger_s)
                await self._pacer.acquire()
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                task = asyncio.create_task(self._send(batch))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Item]) -> None:
        try:
            self.calls += 1
            token = otel_context.attach(batch[0].trace)
            try:
                outcomes = await self._inner.post_each([i.posting for i in batch],
                                                       [i.correlation_id for i in batch])
            finally:
                otel_context.detach(token)
        except Exception as err:  # the whole call failed: every caller sees it
            for item in batch:
                if not item.outcome.done():
                    item.outcome.set_exception(err)
            return
        finally:
            self._pacer.release()
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.outcome.done():
                continue
            if isinstance(outcome, CashloopError):
                item.outcome.set_exception(outcome)
            else:
                item.outcome.set_result(outcome)

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        await self._pacer.acquire()
        try:
            return await self._inner.reverse(external_id,
                                             reversal_external_id=reversal_external_id,
                                             reason=reason, correlation_id=correlation_id)
        finally:
            self._pacer.release()

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        await self._pacer.acquire()
        try:
            return await self._inner.cancel_contract(external_id, reason=reason,
                                                     correlation_id=correlation_id)
        finally:
            self._pacer.release()

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        await self._pacer.acquire()
        try:
            return await self._inner.get_receipt(external_id, correlation_id=correlation_id)
        finally:
            self._pacer.release()

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        await self._pacer.acquire()
        try:
            return await self._inner.open_revenue_periods(legal_entity, through,
                                                          correlation_id=correlation_id)
        finally:
            self._pacer.release()

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        await self._pacer.acquire()
        try:
            return await self._inner.lock_period(legal_entity, period,
                                                 correlation_id=correlation_id)
        finally:
            self._pacer.release()
