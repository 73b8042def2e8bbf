"""The ERP batcher against a real sandbox ERP that enforces NetSuite-like limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.erp.batching import ErpBatcher
from tests.sandbox_harness import erp_sandbox, invoice, invoice_posting, sqlite_stores


async def test_an_invoice_run_through_the_batcher_meets_no_429(tmp_path: Path) -> None:
    async with erp_sandbox(sqlite_stores(tmp_path)) as erp:
        await erp.reader.set_faults(rps_limit=25, max_concurrency=5)
        batcher = ErpBatcher(erp.adapter, max_batch=10, max_rps=25, max_concurrency=5)
        postings = [invoice_posting(invoice()) for _ in range(400)]
        receipts = await asyncio.gather(*(batcher.post([p], correlation_id=f"corr-{i}")
                                          for i, p in enumerate(postings)))
        stats = await erp.reader.stats()
        documents = await erp.reader.documents(kind="invoice")
    assert [r[0].external_id for r in receipts] == [p.external_id for p in postings]
    assert stats["rate_limited"] == 0
    assert stats["batch_calls"] == batcher.calls <= 40 + 5  # full calls, a few partial ones
    assert len(documents) == 400
