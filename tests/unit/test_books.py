"""The chaos drill's books snapshot and comparison (bench/books.py) on hand-made ERP reads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench.books import Books, books_of, compare
from settings import load_entities

ENTITIES = load_entities(Path(__file__).resolve().parents[2] / "config" / "entities.toml")


def line(account: str, side: str, amount: str) -> dict[str, Any]:
    return {"account": account, "side": side, "amount": {"amount": amount, "currency": "USD"},
            "functional_amount": None, "customer_id": "cus1", "memo": ""}


def entry(external_id: str, source_type: str, source_id: str, lines: list[dict[str, Any]],
          number: str) -> dict[str, Any]:
    return {"external_id": external_id, "legal_entity": "US01", "posting_date": "2026-01-01",
            "currency": "USD", "lines": lines, "memo": f"{source_type} {source_id}",
            "source_type": source_type, "source_id": source_id, "functional_currency": None,
            "rate": None, "correlation_id": "corr_sub1", "document_id": number,
            "status": "posted", "posting_external_id": external_id}


def document(external_id: str, kind: str, number: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"external_id": external_id, "kind": kind, "document_id": number, "status": "posted",
            "legal_entity": "US01", "business_key": external_id.split(":", 1)[1],
            "reversed_by": None, "reason": None, "correlation_id": "corr_sub1",
            "created_at": f"2026-11-26T08:00:0{number[-1]}+00:00",
            "body": {"kind": kind, "external_id": external_id, **body}}


def payment(payment_id: str, number: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ext = f"pay:{payment_id}"
    return (document(ext, "payment", number, {"payment": {"payment_id": payment_id,
                                                          "invoice_id": "in1",
                                                          "amount": "1287.00"}}),
            entry(ext, "payment", payment_id, [line("1010", "debit", "1287.00"),
                                                line("1200", "credit", "1287.00")], number))


def raw_books() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One ERP: a customer, an invoice with its entry, its payment with its entry."""
    invoice_entry = entry("inv:in1", "invoice", "in1", [
        line("1200", "debit", "1287.00"), line("2400", "credit", "1200.00"),
        line("2200", "credit", "87.00")], "INV-000001")
    pay_doc, pay_entry = payment("py1", "PAY-000002")
    return {"erp-legacy": {
        "documents": [
            document("cust:cus1", "customer", "CUS-000003", {"customer": {}}),
            document("inv:in1", "invoice", "INV-000001", {"invoice": {"total": "1287.00"}}),
            pay_doc],
        "entries": [invoice_entry, pay_entry],
        "schedules": []}}


def test_the_same_books_compare_equal_whatever_the_erp_numbered_or_stamped() -> None:
    clean = books_of(raw_books(), ENTITIES)
    raw = raw_books()
    part = raw["erp-legacy"]
    part["documents"].reverse()  # booked in another order: other numbers, times, ids
    for i, d in enumerate(part["documents"]):
        d["document_id"], d["created_at"] = f"X-{i}", "2026-11-27T00:00:00+00:00"
        d["correlation_id"] = "corr_retry"
    for e in part["entries"]:
        e["document_id"], e["correlation_id"] = "X-9", None
    diff = compare(clean, books_of(raw, ENTITIES))
    assert diff.ok
    assert diff.summary() == "lost=0 doubled=0 mismatched=0"
    assert clean.trial_balances["US01"]["1200"] == ["1287.00", "1287.00"]


def test_a_planted_double_posting_is_found_with_the_balances_it_moved() -> None:
    raw = raw_books()
    again_doc, again_entry = payment("py1-again", "PAY-000004")  # the same money, a new key
    raw["erp-legacy"]["documents"].append(again_doc)
    raw["erp-legacy"]["entries"].append(again_entry)
    diff = compare(books_of(raw_books(), ENTITIES), books_of(raw, ENTITIES))
    assert [d.key for d in diff.doubled] == ["erp-legacy/pay:py1-again"]
    assert not diff.lost
    assert {d.key for d in diff.mismatched} == {"trial balance US01 1010",
                                                "trial balance US01 1200"}
    assert diff.summary() == "lost=0 doubled=1 mismatched=2"
    assert not diff.ok


def test_an_entry_booked_twice_for_one_document_is_doubled() -> None:
    raw = raw_books()
    raw["erp-legacy"]["entries"].append(copy.deepcopy(raw["erp-legacy"]["entries"][1]))
    diff = compare(books_of(raw_books(), ENTITIES), books_of(raw, ENTITIES))
    assert [(d.key, d.detail) for d in diff.doubled] == [
        ("erp-legacy/pay:py1", "booked 2 times, clean run 1")]


def test_a_lost_posting_is_found() -> None:
    raw = raw_books()
    part = raw["erp-legacy"]
    part["documents"] = [d for d in part["documents"] if d["kind"] != "payment"]
    part["entries"] = [e for e in part["entries"] if e["source_type"] != "payment"]
    diff = compare(books_of(raw_books(), ENTITIES), books_of(raw, ENTITIES))
    assert [d.key for d in diff.lost] == ["erp-legacy/pay:py1"]
    assert not diff.doubled


@pytest.mark.parametrize("field", ["status", "amount"])
def test_a_changed_posting_is_mismatched_with_where_it_differs(field: str) -> None:
    raw = raw_books()
    pay = raw["erp-legacy"]["documents"][2]
    if field == "status":
        pay["status"] = "reversed"
    else:
        pay["body"]["payment"]["amount"] = "1288.00"
    diff = compare(books_of(raw_books(), ENTITIES), books_of(raw, ENTITIES))
    [found] = diff.mismatched
    assert found.key == "erp-legacy/pay:py1"
    assert found.detail.startswith("status" if field == "status" else "body.payment.amount")
    assert diff.listing() == [f"mismatched: {found.key}: {found.detail}"]


def test_books_survive_a_json_round_trip() -> None:
    books = books_of(raw_books(), ENTITIES)
    assert compare(books, Books.from_json(books.to_json())).ok
