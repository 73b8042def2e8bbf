"""ErpBatcher: many callers, few full calls, each caller its own outcome, paced."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.erp.batching import ErpBatcher
from adapters.erp.port import CustomerUpsert, ErpReceipt, Posting, ReceiptStatus
from canonical.errors import CashloopError, RejectedError, UnavailableError
from devstack import streams


def upsert(i: int) -> CustomerUpsert:
    return CustomerUpsert(external_id=f"cust:c{i}", customer=streams.customer(f"c{i}", "US"))


class RecordingErp:
    """Answers every posting; refuses external ids in `refuse`; records each call."""

    name = "erp-rec"

    def __init__(self, delay: float = 0.0, fail_call: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.starts: list[float] = []
        self.refuse: set[str] = set()
        self.delay = delay
        self.fail_call = fail_call
        self.in_flight = self.max_in_flight = 0

    async def post_each(self, postings: list[Posting], correlation_ids: list[str]
                        ) -> list[ErpReceipt | CashloopError]:
        self.starts.append(time.monotonic())
        self.calls.append([p.external_id for p in postings])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_call:
                raise UnavailableError("down", system="erp")
            return [RejectedError(f"{p.external_id} refused", system="erp")
                    if p.external_id in self.refuse else
                    ErpReceipt(external_id=p.external_id, document_id=f"D-{p.external_id}",
                               status=ReceiptStatus.POSTED, erp=self.name)
                    for p in postings]
        finally:
            self.in_flight -= 1


async def test_concurrent_callers_share_full_calls_and_get_their_own_receipts() -> None:
    inner = RecordingErp()
    batcher = ErpBatcher(inner, max_batch=100)  # type: ignore[arg-type]
    results = await asyncio.gather(*(
        batcher.post([upsert(2 * i), upsert(2 * i + 1)], correlation_id=f"c{i}")
        for i in range(150)))
    assert len(inner.calls) == 3
    assert sorted(len(c) for c in inner.calls) == [100, 100, 100]
    for i, receipts in enumerate(results):
        assert [r.external_id for r in receipts] == [f"cust:c{2 * i}", f"cust:c{2 * i + 1}"]


async def test_a_refused_posting_fails_only_its_caller() -> None:
    inner = RecordingErp()
    inner.refuse.add("cust:c3")
    batcher = ErpBatcher(inner)  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.post([upsert(i)], correlation_id="c")
                                     for i in range(10)), return_exceptions=True)
    assert len(inner.calls) == 1
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [3]
    assert isinstance(results[3], RejectedError)


async def test_a_failed_call_fails_every_caller_in_it() -> None:
    batcher = ErpBatcher(RecordingErp(fail_call=True))  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.post([upsert(i)], correlation_id="c")
                                     for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, UnavailableError) for r in results)


async def test_calls_are_bounded_in_concurrency() -> None:
    inner = RecordingErp(delay=0.05)
    batcher = ErpBatcher(inner, max_batch=2, max_rps=40,  # type: ignore[arg-type]
                         max_concurrency=2, linger_s=0)
    await asyncio.gather(*(batcher.post([upsert(i)], correlation_id="c") for i in range(12)))
    assert len(inner.calls) >= 6
    assert inner.max_in_flight <= 2


async def test_calls_are_paced_under_the_rate() -> None:
    """The k-th call never starts before k intervals have passed (a lower bound only:
    a slow machine delays calls, which cannot make this fail; no pacing would)."""
    inner = RecordingErp(delay=0.001)
    batcher = ErpBatcher(inner, max_batch=2, max_rps=40,  # type: ignore[arg-type]
                         max_concurrency=5, linger_s=0)
    begin = time.monotonic()
    await asyncio.gather(*(batcher.post([upsert(i)], correlation_id="c") for i in range(12)))
    assert len(inner.calls) >= 6
    for k, start in enumerate(sorted(inner.starts)):
        assert start - begin >= k / 40 - 0.001


@pytest.mark.parametrize("n", [1, 250])
async def test_every_caller_is_answered(n: int) -> None:
    batcher = ErpBatcher(RecordingErp(), max_batch=7)  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.post([upsert(i)], correlation_id="c")
                                     for i in range(n)))
    assert len(results) == n
