"""The sandbox ERP's periods: locks, postings moved out of locked periods, open revenue
periods for the close, foreign-currency schedules, and versioned schema migrations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from adapters.sandbox.db import drop_schema, make_engine
from adapters.sandbox.erp_migrations import LATEST, current_version, migrate
from adapters.sandbox.erp_models import ErpTable
from canonical.money import Money
from canonical.schedules import schedules_for_invoice
from tests.sandbox_harness import (
    ErpHandle,
    assert_concurrent_duplicates,
    erp_sandbox,
    invoice,
    invoice_posting,
    payment_posting,
    postgres_or_skip,
    recognition_posting,
    schedule_end,
    schedule_of,
    schedule_posting,
    sqlite_stores,
)


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpHandle]:
    async with erp_sandbox(sqlite_stores(tmp_path)) as handle:
        yield handle


async def test_posting_dated_in_a_locked_period_goes_to_the_first_open_period(
        erp: ErpHandle) -> None:
    inv = invoice()  # issued 2025-01-01
    for period in ("2025-01", "2025-02"):
        await erp.adapter.lock_period("US01", period, correlation_id="c")
    receipt = (await erp.adapter.post([invoice_posting(inv)], correlation_id="c"))[0]
    assert receipt.posted_period == "2025-03"
    assert receipt.note is not None and "locked" in receipt.note
    entry = next(e for e in await erp.reader.journal_entries()
                 if e.external_id == f"inv:{inv.invoice_id}")
    assert entry.posting_date == dt.date(2025, 3, 1)
    again = await erp.adapter.get_receipt(receipt.external_id, correlation_id="c")
    assert again.posted_period == "2025-03"  # the flag stays on the document


async def test_locks_are_per_entity_and_idempotent(erp: ErpHandle) -> None:
    first = await erp.adapter.lock_period("US01", "2025-01", correlation_id="c")
    second = await erp.adapter.lock_period("US01", "2025-01", correlation_id="c")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.locked_at == first.locked_at
    receipt = (await erp.adapter.post([invoice_posting(invoice(legal_entity="US01"))],
                                      correlation_id="c"))[0]
    de = invoice(legal_entity="DE01", currency="EUR")
    de_receipt = (await erp.adapter.post([invoice_posting(de)], correlation_id="c"))[0]
    assert receipt.posted_period == "2025-02"
    assert de_receipt.posted_period is None  # DE01 did not lock January
    assert [lk["period"] for lk in await erp.reader.period_locks("US01")] == ["2025-01"]


async def test_open_revenue_periods_lists_what_a_close_must_recognise(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    await erp.adapter.post([schedule_posting(sched), recognition_posting(sched, "2025-01"),
                            schedule_end(sched, dt.date(2025, 3, 16))], correlation_id="c")
    due = await erp.adapter.open_revenue_periods("US01", "2025-04", correlation_id="c")
    assert [(p.period, p.amount) for p in due] == [
        ("2025-02", sched.periods[1].amount),
        ("2025-03", sched.periods[2].amount.times(Decimal(15) / Decimal(31)))]
    assert await erp.adapter.open_revenue_periods("DE01", "2025-04", correlation_id="c") == []


async def test_foreign_schedule_keeps_functional_amounts_and_releases_them(
        erp: ErpHandle) -> None:
    inv = invoice(currency="EUR")  # a EUR invoice of the USD entity
    sched = schedules_for_invoice(inv, functional_currency="USD", rate=Decimal("1.1"))[0]
    receipts = await erp.adapter.post([schedule_posting(sched),
                                       schedule_end(sched, dt.date(2025, 7, 1))],
                                      correlation_id="c")
    kept_f = sum((p.functional_amount.amount for p in sched.periods[:6]  # type: ignore[union-attr]
                  ), Decimal(0))
    assert receipts[1].functional_amount == Money(
        amount=Decimal("1320.00") - kept_f, currency="USD")  # 1200.00 EUR * 1.1
    due = await erp.adapter.open_revenue_periods("US01", "2025-01", correlation_id="c")
    assert due[0].functional_amount == sched.periods[0].functional_amount
    assert due[0].rate == Decimal("1.1")


async def test_payment_after_a_lock_still_needs_its_invoice(erp: ErpHandle) -> None:
    inv = invoice()
    await erp.adapter.post([invoice_posting(inv)], correlation_id="c")
    await erp.adapter.lock_period("US01", "2025-01", correlation_id="c")
    receipt = (await erp.adapter.post([payment_posting(inv)], correlation_id="c"))[0]
    assert receipt.posted_period == "2025-02"


def _make_legacy_store(url: str, service: str) -> None:
    """A store as the first release created it: version-1 tables, no migrations table."""
    engine = make_engine(url, service)
    try:
        migrate(engine)
        schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
        prefix = f'"{schema}".' if schema else ""
        with engine.begin() as conn:
            for table, column in [("documents", "functional_amount"),
                                  ("documents", "functional_currency"),
                                  ("documents", "posted_period"),
                                  ("journal_entries", "original_posting_date"),
                                  ("revenue_schedules", "rate"),
                                  ("revenue_periods", "functional_amount")]:
                conn.execute(text(f'ALTER TABLE {prefix}"{table}" DROP COLUMN "{column}"'))
            conn.execute(text(f'DROP TABLE {prefix}"period_locks"'))
            conn.execute(text(f'DROP TABLE {prefix}"schema_migrations"'))
    finally:
        engine.dispose()


async def _assert_upgrades_legacy_store(url: str, service: str) -> None:
    _make_legacy_store(url, service)
    engine = make_engine(url, service)
    try:
        assert current_version(engine) == 1
    finally:
        engine.dispose()
    async with erp_sandbox(lambda _store: url, service) as handle:  # migrates on start
        inv = invoice()
        await handle.adapter.lock_period("US01", "2025-01", correlation_id="c")
        receipt = (await handle.adapter.post([invoice_posting(inv)], correlation_id="c"))[0]
        assert receipt.posted_period == "2025-02"
        await assert_concurrent_duplicates(handle, copies=20)
    engine = make_engine(url, service)
    try:
        assert current_version(engine) == LATEST
        schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names(schema=schema))
        assert set(ErpTable.metadata.tables) <= tables
        assert migrate(engine) == []  # nothing left to apply
    finally:
        engine.dispose()


async def test_store_of_the_first_release_is_migrated_on_start(tmp_path: Path) -> None:
    await _assert_upgrades_legacy_store(f"sqlite:///{tmp_path / 'legacy.db'}", "erp-legacy")


@pytest.mark.postgres
async def test_store_of_the_first_release_is_migrated_on_start_on_postgres() -> None:
    url = postgres_or_skip()
    name = f"erp-m{uuid.uuid4().hex[:10]}"
    try:
        await _assert_upgrades_legacy_store(url, name)
    finally:
        drop_schema(url, name)
