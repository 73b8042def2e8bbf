"""Fault injection on a real sandbox over HTTP: limits, error phases, admin paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from canonical.errors import (
    InvalidDataError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
)
from tests.sandbox_harness import ErpHandle, erp_sandbox, invoice, invoice_posting, sqlite_stores


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpHandle]:
    async with erp_sandbox(sqlite_stores(tmp_path)) as handle:
        yield handle


async def test_rps_limit_answers_429_with_retry_after(erp: ErpHandle) -> None:
    # A bucket refilling one token per 1000 s: the first call passes, the next cannot.
    await erp.reader.set_faults(rps_limit=0.001)
    await erp.adapter.post([invoice_posting(invoice())], correlation_id="c")
    response = await erp.client.get("/v1/documents")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    with pytest.raises(RateLimitedError) as info:
        await erp.adapter.post([invoice_posting(invoice())], correlation_id="c")
    assert info.value.retry_after_s is not None and info.value.retry_after_s >= 1
    stats = await erp.reader.stats()  # admin paths are never limited
    assert stats["rate_limited"] >= 2 and stats["by_status"]["429"] >= 2


async def test_observers_read_documents_outside_the_limit_and_the_counters(
        erp: ErpHandle) -> None:
    await erp.reader.set_faults(rps_limit=0.001)
    posting = invoice_posting(invoice())
    await erp.adapter.post([posting], correlation_id="c")  # the bucket's only token
    before = await erp.reader.stats()
    docs = [await erp.reader.observed_documents() for _ in range(3)]
    assert all([d.external_id for d in batch] == [posting.external_id] for batch in docs)
    assert await erp.reader.observed_ids() == {posting.external_id}
    assert await erp.reader.stats() == before  # a benchmark watching changes nothing


async def test_max_concurrency_answers_429_beyond_the_limit(erp: ErpHandle) -> None:
    await erp.reader.set_faults(max_concurrency=1, latency_ms=300)
    responses = await asyncio.gather(*(erp.client.get("/v1/documents") for _ in range(6)))
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert (await erp.reader.stats())["max_in_flight"] == 1


async def test_error_after_commit_then_retry_is_a_duplicate(erp: ErpHandle) -> None:
    await erp.reader.set_faults(error_rate=1.0, error_kinds=["503"], error_phase="after")
    posting = invoice_posting(invoice())
    with pytest.raises(UnavailableError):
        await erp.adapter.post([posting], correlation_id="c")
    await erp.reader.reset_faults()
    receipt = (await erp.adapter.post([posting], correlation_id="c"))[0]
    assert receipt.duplicate
    docs = await erp.reader.documents(kind="invoice")
    assert [d.external_id for d in docs] == [posting.external_id]


async def test_error_before_leaves_no_trace(erp: ErpHandle) -> None:
    await erp.reader.set_faults(error_rate=1.0, error_kinds=["500"], error_phase="before")
    posting = invoice_posting(invoice())
    with pytest.raises(UnavailableError):
        await erp.adapter.post([posting], correlation_id="c")
    await erp.reader.reset_faults()
    with pytest.raises(NotFoundError):
        await erp.adapter.get_receipt(posting.external_id, correlation_id="c")


async def test_injected_429_carries_retry_after(erp: ErpHandle) -> None:
    await erp.reader.set_faults(error_rate=1.0, error_kinds=["429"])
    with pytest.raises(RateLimitedError) as info:
        await erp.adapter.get_receipt("inv:x", correlation_id="c")
    assert info.value.retry_after_s == 1


async def test_timeout_fault_hangs_then_answers_504(erp: ErpHandle) -> None:
    await erp.reader.set_faults(error_rate=1.0, error_kinds=["timeout"], hang_ms=0)
    response = await erp.client.get("/v1/documents")
    assert (response.status_code, response.json()["type"]) == (504, "injected_fault")
    with pytest.raises(UnavailableError):
        await erp.adapter.get_receipt("inv:x", correlation_id="c")


async def test_health_and_admin_are_never_faulted(erp: ErpHandle) -> None:
    await erp.reader.set_faults(error_rate=1.0, error_kinds=["500"], rps_limit=0.001)
    for _ in range(3):
        assert await erp.reader.health()
        assert (await erp.reader.faults()).error_rate == 1.0


async def test_invalid_fault_settings_are_refused(erp: ErpHandle) -> None:
    with pytest.raises(InvalidDataError):
        await erp.reader.set_faults(error_rate=2)
    with pytest.raises(InvalidDataError):
        await erp.reader.set_faults(error_kinds=["418"])
    assert (await erp.reader.faults()).error_rate == 0


async def test_seeded_mixed_faults_are_reproducible(tmp_path: Path) -> None:
    async def run(seed: int) -> list[int]:
        async with erp_sandbox(sqlite_stores(tmp_path / str(seed) / "x")) as handle:
            await handle.reader.set_faults(error_rate=0.5, error_kinds=["500", "503"],
                                           error_phase="mixed", seed=seed)
            return [(await handle.client.get("/v1/documents")).status_code
                    for _ in range(20)]

    first = await run(7)
    assert set(first) - {200, 500, 503} == set()
    assert first == await run(7)
