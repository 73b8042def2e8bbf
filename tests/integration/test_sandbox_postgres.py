"""The sandbox ERP on PostgreSQL: idempotency under concurrency, each run in its own schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.erp.port import ReceiptStatus
from adapters.sandbox.db import drop_schema
from tests.sandbox_harness import (
    ErpHandle,
    assert_concurrent_duplicates,
    assert_posting_idempotent,
    erp_sandbox,
    invoice,
    invoice_posting,
    postgres_or_skip,
    recognition_posting,
    schedule_of,
    schedule_posting,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def erp() -> AsyncIterator[ErpHandle]:
    url = postgres_or_skip()
    # A unique instance name gives a unique schema, so parallel runs never collide.
    name = f"erp-t{uuid.uuid4().hex[:10]}"
    try:
        async with erp_sandbox(lambda _store: url, name) as handle:
            yield handle
    finally:
        drop_schema(url, name)


async def test_posting_twice_creates_one_document_on_postgres(erp: ErpHandle) -> None:
    await assert_posting_idempotent(erp)


async def test_twenty_concurrent_duplicates_create_one_document_on_postgres(
        erp: ErpHandle) -> None:
    await assert_concurrent_duplicates(erp, copies=20)


async def test_reverse_and_recognition_on_postgres(erp: ErpHandle) -> None:
    inv = invoice()
    sched = schedule_of(inv)
    posting = invoice_posting(inv)
    rec = recognition_posting(sched, "2025-01")
    await erp.adapter.post([posting, schedule_posting(sched), rec], correlation_id="c")
    await erp.adapter.reverse(posting.external_id, reversal_external_id="rev-1",
                              reason="test", correlation_id="c")
    receipt = await erp.adapter.get_receipt(posting.external_id, correlation_id="c")
    assert receipt.status == ReceiptStatus.REVERSED
    jan = (await erp.reader.schedules())[0].periods[0]
    assert jan.recognised_entry_id == rec.external_id
