"""The sandbox ERP over real HTTP and SQLite: idempotency, validation, reversal, schedules."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.erp.port import JournalPosting, Posting, ReceiptStatus
from canonical.errors import InvalidDataError, NotFoundError, RejectedError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from tests.sandbox_harness import (
    ErpHandle,
    assert_concurrent_duplicates,
    assert_posting_idempotent,
    contract_posting,
    customer,
    customer_upsert,
    erp_sandbox,
    invoice,
    invoice_posting,
    payment_posting,
    sqlite_stores,
    subscription,
)


@pytest.fixture
async def erp(tmp_path: Path) -> AsyncIterator[ErpHandle]:
    async with erp_sandbox(sqlite_stores(tmp_path)) as handle:
        yield handle


async def _item_error(erp: ErpHandle, raw: dict) -> dict:
    response = await erp.client.post("/v1/postings", json={"postings": [raw]})
    assert response.status_code == 200
    return response.json()["results"][0]["error"]


async def test_posting_twice_creates_one_document(erp: ErpHandle) -> None:
    await assert_posting_idempotent(erp)


async def test_twenty_concurrent_duplicates_create_one_document(erp: ErpHandle) -> None:
    await assert_concurrent_duplicates(erp, copies=20)


async def test_receipts_come_back_in_input_order_with_numbers_per_kind(erp: ErpHandle) -> None:
    cust = customer()
    inv = invoice(customer_id=cust.customer_id)
    postings: list[Posting] = [
        customer_upsert(cust), contract_posting(subscription(cust.customer_id)),
        invoice_posting(inv), payment_posting(inv)]
    receipts = await erp.adapter.post(postings, correlation_id="c-order")
    assert [r.external_id for r in receipts] == [p.external_id for p in postings]
    assert [r.document_id.split("-")[0] for r in receipts] == ["CUS", "CTR", "INV", "PAY"]
    assert all(r.status == ReceiptStatus.POSTED for r in receipts)


async def test_same_external_id_with_other_body_is_rejected(erp: ErpHandle) -> None:
    inv = invoice()
    await erp.adapter.post([invoice_posting(inv)], correlation_id="c")
    changed = invoice_posting(invoice(inv.invoice_id, amount="999.00"))
    with pytest.raises(RejectedError):
        await erp.adapter.post([changed], correlation_id="c")
    error = await _item_error(erp, changed.model_dump(mode="json"))
    assert (error["status"], error["type"]) == (409, "conflict")


async def test_repeat_with_new_correlation_id_is_a_duplicate(erp: ErpHandle) -> None:
    inv = invoice()
    entry = invoice_posting(inv).entry
    first = invoice_posting(inv).model_copy(update={
        "entry": entry.model_copy(update={"correlation_id": "trace-a"})})
    second = invoice_posting(inv).model_copy(update={
        "entry": entry.model_copy(update={"correlation_id": "trace-b"})})
    await erp.adapter.post([first], correlation_id="a")
    assert (await erp.adapter.post([second], correlation_id="b"))[0].duplicate


async def test_customer_upsert_with_changed_master_data_updates(erp: ErpHandle) -> None:
    cust = customer()
    first = (await erp.adapter.post([customer_upsert(cust)], correlation_id="c"))[0]
    moved = cust.model_copy(update={"name": "Acme Renamed"})
    second = (await erp.adapter.post([customer_upsert(moved)], correlation_id="c"))[0]
    assert second.document_id == first.document_id
    docs = await erp.reader.documents(kind="customer")
    assert [d.body["customer"]["name"] for d in docs] == ["Acme Renamed"]


async def test_payment_for_unknown_invoice_is_rejected(erp: ErpHandle) -> None:
    pay = payment_posting(invoice())  # the invoice was never posted here
    with pytest.raises(RejectedError):
        await erp.adapter.post([pay], correlation_id="c")
    error = await _item_error(erp, pay.model_dump(mode="json"))
    assert (error["status"], error["type"]) == (409, "unknown_invoice")


async def test_unbalanced_entry_is_invalid(erp: ErpHandle) -> None:
    raw = invoice_posting(invoice()).model_dump(mode="json")
    raw["entry"]["lines"][0]["amount"]["amount"] = "1.00"
    error = await _item_error(erp, raw)
    assert (error["status"], error["type"]) == (422, "unbalanced")


async def test_unknown_account_is_invalid(erp: ErpHandle) -> None:
    usd = Money(amount=Decimal("10.00"), currency="USD")
    entry = JournalEntry(
        external_id="je:bad-account", legal_entity="US01", posting_date=dt.date(2025, 1, 1),
        currency="USD", source_type="manual", source_id="x",
        lines=[JournalLine(account="1200", side=Side.DEBIT, amount=usd),
               JournalLine(account="9999", side=Side.CREDIT, amount=usd)])
    posting = JournalPosting(external_id=entry.external_id, entry=entry)
    with pytest.raises(InvalidDataError):
        await erp.adapter.post([posting], correlation_id="c")
    error = await _item_error(erp, posting.model_dump(mode="json"))
    assert (error["status"], error["type"]) == (422, "unknown_account")


async def test_unknown_legal_entity_is_invalid(erp: ErpHandle) -> None:
    posting = customer_upsert(customer(legal_entity="ZZ01"))
    error = await _item_error(erp, posting.model_dump(mode="json"))
    assert (error["status"], error["type"]) == (422, "unknown_legal_entity")


async def test_one_bad_item_fails_alone_and_the_adapter_raises(erp: ErpHandle) -> None:
    good = customer_upsert(customer())
    bad = payment_posting(invoice())
    with pytest.raises(RejectedError):
        await erp.adapter.post([good, bad], correlation_id="c")
    assert (await erp.adapter.get_receipt(good.external_id, correlation_id="c")).document_id


async def test_batch_over_one_hundred_is_refused_and_the_adapter_splits(
        erp: ErpHandle) -> None:
    postings: list[Posting] = [customer_upsert(customer()) for _ in range(150)]
    response = await erp.client.post(
        "/v1/postings", json={"postings": [p.model_dump(mode="json") for p in postings[:101]]})
    assert (response.status_code, response.json()["type"]) == (422, "validation")
    await erp.reader.reset_stats()
    receipts = await erp.adapter.post(postings, correlation_id="c")
    assert len(receipts) == 150
    stats = await erp.reader.stats()
    assert (stats["batch_calls"], stats["documents_in_batches"]) == (2, 150)


async def test_reverse_posts_the_mirror_entry(erp: ErpHandle) -> None:
    inv = invoice(usage="50.00")
    posting = invoice_posting(inv)
    await erp.adapter.post([posting], correlation_id="c")
    rev_id = f"rev-{posting.external_id}"
    receipt = await erp.adapter.reverse(posting.external_id, reversal_external_id=rev_id,
                                        reason="saga", correlation_id="c")
    assert receipt.document_id.startswith("JE-") and not receipt.duplicate
    again = await erp.adapter.reverse(posting.external_id, reversal_external_id=rev_id,
                                      reason="saga", correlation_id="c")
    assert again.duplicate and again.document_id == receipt.document_id
    original = await erp.adapter.get_receipt(posting.external_id, correlation_id="c")
    assert original.status == ReceiptStatus.REVERSED

    entries = {e.external_id: e for e in await erp.reader.journal_entries()}
    mirror = entries[rev_id]
    assert mirror.posting_date == posting.entry.posting_date
    assert [(ln.account, ln.side, ln.amount) for ln in mirror.lines] == [
        (ln.account, Side.CREDIT if ln.side == Side.DEBIT else Side.DEBIT, ln.amount)
        for ln in posting.entry.lines]
    net: dict[str, Decimal] = defaultdict(Decimal)
    for e in (entries[posting.entry.external_id], mirror):
        for ln in e.lines:
            net[ln.account] += ln.amount.amount if ln.side == Side.DEBIT else -ln.amount.amount
    assert set(net.values()) == {Decimal(0)}

    with pytest.raises(RejectedError):  # a second reversal under another id
        await erp.adapter.reverse(posting.external_id, reversal_external_id="rev-other",
                                  reason="again", correlation_id="c")


async def test_reverse_of_unknown_document_is_not_found(erp: ErpHandle) -> None:
    with pytest.raises(NotFoundError):
        await erp.adapter.reverse("inv:nope", reversal_external_id="rev-nope", reason="x",
                                  correlation_id="c")


async def test_cancel_contract_is_idempotent(erp: ErpHandle) -> None:
    cust = customer()
    ctr = contract_posting(subscription(cust.customer_id))
    await erp.adapter.post([ctr], correlation_id="c")
    first = await erp.adapter.cancel_contract(ctr.external_id, reason="churn", correlation_id="c")
    second = await erp.adapter.cancel_contract(ctr.external_id, reason="churn",
                                               correlation_id="c")
    assert first.status == second.status == ReceiptStatus.CANCELLED
    assert (first.duplicate, second.duplicate) == (False, True)
    inv = invoice_posting(invoice())
    await erp.adapter.post([inv], correlation_id="c")
    with pytest.raises(RejectedError):
        await erp.adapter.cancel_contract(inv.external_id, reason="x", correlation_id="c")


async def test_unknown_receipt_is_not_found(erp: ErpHandle) -> None:
    with pytest.raises(NotFoundError):
        await erp.adapter.get_receipt("inv:does-not-exist", correlation_id="c")


async def test_pending_confirmation_turns_posted_after_the_delay(erp: ErpHandle) -> None:
    await erp.reader.set_config(pending_kinds=["contract"], confirm_delay_s=3600)
    ctr = contract_posting(subscription(customer().customer_id))
    inv = invoice_posting(invoice())
    receipts = await erp.adapter.post([ctr, inv], correlation_id="c")
    assert [r.status for r in receipts] == [ReceiptStatus.PENDING, ReceiptStatus.POSTED]
    assert (await erp.adapter.get_receipt(ctr.external_id, correlation_id="c")).status == (
        ReceiptStatus.PENDING)
    await erp.reader.set_config(confirm_delay_s=0)  # the delay has now passed
    assert (await erp.adapter.get_receipt(ctr.external_id, correlation_id="c")).status == (
        ReceiptStatus.POSTED)


async def test_external_ids_with_slashes_round_trip(erp: ErpHandle) -> None:
    inv = invoice(invoice_id="in/2025/0001")
    posting = invoice_posting(inv)
    await erp.adapter.post([posting], correlation_id="c")
    receipt = await erp.adapter.get_receipt(posting.external_id, correlation_id="c")
    assert receipt.external_id == "inv:in/2025/0001"
