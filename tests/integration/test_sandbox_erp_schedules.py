"""Revenue schedules in the sandbox ERP: recognition links and early ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.erp.sandbox import ErpSchedule
from canonical.errors import NotFoundError, RejectedError
from canonical.money import round_amount
from tests.sandbox_harness import (
    ErpHandle,
    erp_sandbox,
    invoice,
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


async def _schedule(erp: ErpHandle, schedule_id: str) -> ErpSchedule:
    return next(s for s in await erp.reader.schedules() if s.schedule_id == schedule_id)


async def test_schedule_is_stored_with_open_periods(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    receipt = (await erp.adapter.post([schedule_posting(sched)], correlation_id="c"))[0]
    stored = await _schedule(erp, sched.schedule_id)
    assert receipt.document_id.startswith("SCH-")
    assert [p.period for p in stored.periods] == [p.period for p in sched.periods]
    assert [p.amount for p in stored.periods] == [p.amount for p in sched.periods]
    assert {p.status for p in stored.periods} == {"open"}
    assert all(p.recognised_entry_id is None for p in stored.periods)


async def test_recognition_journal_links_its_period(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    rec = recognition_posting(sched, "2025-01")
    await erp.adapter.post([schedule_posting(sched), rec], correlation_id="c")
    jan = (await _schedule(erp, sched.schedule_id)).periods[0]
    assert (jan.status, jan.recognised_entry_id) == ("recognised", rec.external_id)
    assert jan.recognised_amount == sched.periods[0].amount
    assert jan.recognised_document_id is not None


async def test_schedule_end_cuts_and_cancels_periods(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    end_on = dt.date(2025, 3, 16)
    end = schedule_end(sched, end_on)
    receipts = await erp.adapter.post(
        [schedule_posting(sched), recognition_posting(sched, "2025-01"), end], correlation_id="c")
    again = await erp.adapter.post([end], correlation_id="c")
    stored = await _schedule(erp, sched.schedule_id)
    assert (stored.status, stored.ended_on) == ("ended", end_on)
    by_period = {p.period: p for p in stored.periods}
    assert by_period["2025-01"].status == "recognised"
    assert by_period["2025-02"].amount == sched.periods[1].amount  # before end_on: intact
    march = by_period["2025-03"]
    expected = round_amount(sched.periods[2].amount.amount * Decimal(15) / Decimal(31), "USD")
    assert (march.status, march.amount.amount) == ("open", expected)
    assert march.original_amount == sched.periods[2].amount
    later = [p for p in stored.periods if p.start >= end_on]
    assert later and {p.status for p in later} == {"cancelled"}
    assert {p.amount.amount for p in later} == {Decimal(0)}
    assert all(p.ended_by == end.external_id for p in [march, *later])
    # the receipt tells how much unrecognised revenue the cut released, also on a repeat
    released = sum((p.amount.amount - by_period[p.period].amount.amount
                    for p in sched.periods), Decimal(0))
    assert receipts[-1].amount is not None and receipts[-1].amount.amount == released > 0
    assert again[0].duplicate and again[0].amount == receipts[-1].amount

    with pytest.raises(RejectedError):  # recognising a cancelled period
        await erp.adapter.post([recognition_posting(sched, "2025-06")], correlation_id="c")


async def test_reversing_a_schedule_end_restores_the_periods(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    end = schedule_end(sched, dt.date(2025, 6, 10))
    await erp.adapter.post([schedule_posting(sched), end], correlation_id="c")
    await erp.adapter.reverse(end.external_id, reversal_external_id=f"rev-{end.external_id}",
                              reason="compensate", correlation_id="c")
    stored = await _schedule(erp, sched.schedule_id)
    assert stored.status == "active" and stored.ended_on is None
    assert [p.amount for p in stored.periods] == [p.amount for p in sched.periods]
    assert {p.status for p in stored.periods} == {"open"}


async def test_reversing_a_recognition_reopens_its_period(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    rec = recognition_posting(sched, "2025-02")
    await erp.adapter.post([schedule_posting(sched), rec], correlation_id="c")
    await erp.adapter.reverse(rec.external_id, reversal_external_id=f"rev-{rec.external_id}",
                              reason="wrong period", correlation_id="c")
    feb = (await _schedule(erp, sched.schedule_id)).periods[1]
    assert (feb.status, feb.recognised_entry_id) == ("open", None)


async def test_end_of_unknown_schedule_is_rejected(erp: ErpHandle) -> None:
    sched = schedule_of(invoice())
    with pytest.raises(RejectedError):
        await erp.adapter.post([schedule_end(sched, dt.date(2025, 5, 1))], correlation_id="c")


async def test_a_posting_refused_after_its_writes_leaves_no_trace(erp: ErpHandle) -> None:
    """A batch shares one transaction; a posting refused once its document was written
    (a second end of an ended schedule) is rolled back alone, number included."""
    sched = schedule_of(invoice())
    first = schedule_end(sched, dt.date(2025, 3, 16))
    second = first.model_copy(update={"external_id": f"{first.external_id}-again"})
    third = first.model_copy(update={"external_id": f"{first.external_id}-third"})
    response = await erp.client.post("/v1/postings", json={"postings": [
        p.model_dump(mode="json") for p in (schedule_posting(sched), first, second)]})
    results = response.json()["results"]
    assert ["receipt" in r for r in results] == [True, True, False]
    assert (results[2]["error"]["status"], results[2]["error"]["type"]) == (409,
                                                                            "schedule_ended")
    with pytest.raises(NotFoundError):
        await erp.adapter.get_receipt(second.external_id, correlation_id="c")
    with pytest.raises(RejectedError):
        await erp.adapter.post([third], correlation_id="c")
    prefix, number = results[1]["receipt"]["document_id"].rsplit("-", 1)
    other = schedule_of(invoice())
    nxt = await erp.adapter.post([schedule_posting(other),
                                  schedule_end(other, dt.date(2025, 3, 16))], correlation_id="c")
    assert nxt[1].document_id == f"{prefix}-{int(number) + 1:06d}"
