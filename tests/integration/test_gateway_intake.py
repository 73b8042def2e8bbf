"""Intake end to end over the real app and store: auth, inbox, duplicates, dead letters, replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

import starter
from devstack import stripe_events as se
from gateway import dlq
from gateway.sources.customers import CustomerMap
from gateway.store import DeadLetter, ForwardItem, InboxMessage
from observability.logging import captured_logs
from tests.integration.gateway_harness import (
    API_KEY,
    CUSTOMERS_TOML,
    config,
    eventually,
    running_gateway,
    signalled_event_ids,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = [json.loads(line) for line in (ROOT / "examples" / "demo.jsonl").read_text().splitlines()
        if line.strip() and not line.startswith("#")]
STRIPE = [json.loads(line) for line in
          (ROOT / "examples" / "stripe_webhooks.jsonl").read_text().splitlines()]
T0 = se.unix(dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC))


def rows(engine: Any, table: type) -> list[Any]:
    with Session(engine) as s:
        return list(s.exec(select(table)).all())


def stranger_subscription(sub_id: str = "sub_1TestStranger01") -> dict[str, Any]:
    price = se.price("price_1TestStranger", "prod_TestStranger", 1500, "usd")
    obj = se.subscription(sub_id, "cus_TestStranger01", [("si_TestStranger01", price, 1)],
                          T0, T0 + 30 * 86400)
    return se.event(f"evt_{sub_id[4:]}", "customer.subscription.created", T0, obj)


async def test_canonical_event_is_accepted_then_a_redelivery_is_only_a_duplicate(tmp_path):
    async with running_gateway(config(tmp_path)) as gw:
        first = await gw.post_events(DEMO[0])
        assert first.status_code == 202
        assert first.json()["accepted"] is True and first.json()["duplicate"] is False
        again = await gw.post_events(DEMO[0])
        assert again.status_code == 200
        assert again.json()["duplicate"] is True and again.json()["inbox_id"] is None
        inbox = rows(gw.gw.engine, InboxMessage)
        assert len(inbox) == 1 and len(rows(gw.gw.engine, ForwardItem)) == 1
        assert inbox[0].source == "billing"  # the API key's source
        assert "x-api-key" not in {k.lower() for k in inbox[0].headers}
        assert json.loads(inbox[0].body) == DEMO[0]


async def test_array_is_accepted_in_order_and_old_versions_are_upcast(tmp_path):
    async with running_gateway(config(tmp_path)) as gw:
        answer = await gw.post_events(DEMO)
        assert answer.status_code == 202
        assert answer.json()["accepted"] == len(DEMO)
        queued = sorted(rows(gw.gw.engine, ForwardItem), key=lambda r: r.id)
        assert [r.event_id for r in queued] == [e["event_id"] for e in DEMO]
        retired = [e for e in DEMO if e.get("schema_version") == 1
                   and e["event_type"] == "payment.succeeded"]
        assert retired, "the demo scenario holds a payment in the retired v1 shape"
        upcast = next(r for r in queued if r.event_id == retired[0]["event_id"])
        assert upcast.event["schema_version"] == 2
        assert "payment" in upcast.event["payload"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": API_KEY + "x"},
                                     {"Authorization": "Bearer nope"}])
async def test_events_without_a_valid_api_key_are_401_and_not_kept(tmp_path, headers):
    async with running_gateway(config(tmp_path)) as gw:
        answer = await gw.http.post("/v1/events", json=DEMO[0], headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
        assert rows(gw.gw.engine, InboxMessage) == [] == rows(gw.gw.engine, DeadLetter)


async def test_bearer_authorization_is_accepted(tmp_path):
    async with running_gateway(config(tmp_path)) as gw:
        answer = await gw.http.post("/v1/events", json=DEMO[0],
                                    headers={"Authorization": f"Bearer {API_KEY}"})
        assert answer.status_code == 202


async def test_each_dead_letter_category_is_4xx_with_reason_and_kept(tmp_path):
    wrong_type = {**DEMO[0], "event_id": "evt_wrong_type", "sequence": "first"}
    unknown = {**DEMO[0], "event_id": "evt_unknown", "event_type": "subscription.paused"}
    cases: list[tuple[str, Any, int, str, str]] = [
        ("events", b'{"event_id": "evt_1", ', 400, "json_invalid", ""),
        ("events", wrong_type, 422, "schema_invalid", "sequence"),
        ("events", unknown, 422, "unknown_event_type", "event_type"),
        ("stripe", stranger_subscription(), 422, "unmappable_customer", "data.object.customer"),
    ]
    async with running_gateway(config(tmp_path)) as gw:
        for channel, body, status, category, path in cases:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            answer = await (gw.post_events(raw) if channel == "events" else gw.post_stripe(raw))
            assert answer.status_code == status, answer.text
            error = answer.json()
            assert error["error"] == category
            assert error["errors"][0]["path"] == path
            assert {"path", "type", "message", "expected", "got"} <= set(error["errors"][0])
            letter = dlq.get(gw.gw.engine, error["dead_letter_ids"][0])
            assert letter is not None
            assert (letter.channel, letter.category, letter.status) == (channel, category, "open")
            assert letter.body == raw  # the raw payload, byte for byte
            assert letter.reason["errors"][0]["path"] == path
        assert rows(gw.gw.engine, InboxMessage) == []


async def test_array_with_an_invalid_event_accepts_none_and_keeps_the_invalid_one(tmp_path):
    bad = {**DEMO[1], "event_id": "evt_bad_money",
           "payload": {**DEMO[1]["payload"], "invoice": {**DEMO[1]["payload"]["invoice"],
                                                         "currency": "usd"}}}
    async with running_gateway(config(tmp_path)) as gw:
        answer = await gw.post_events([DEMO[0], bad, DEMO[2]])
        assert answer.status_code == 422
        body = answer.json()
        assert body["error"] == "schema_invalid"
        assert all(e["path"].startswith("1.") for e in body["errors"])
        assert len(body["dead_letter_ids"]) == 1
        assert rows(gw.gw.engine, InboxMessage) == []


async def test_invalid_signature_is_401_not_kept_and_logged_without_the_body(tmp_path):
    event = stranger_subscription()
    event["data"]["object"]["metadata"] = {"marker": "SECRET-BODY-MARKER-7731"}
    with captured_logs("json", "gateway") as lines:
        async with running_gateway(config(tmp_path)) as gw:
            answer = await gw.post_stripe(event, secret="whsec_forged")
            assert answer.status_code == 401
            assert answer.json()["error"] == "invalid_signature"
            assert answer.json()["errors"][0]["type"] == "signature_mismatch"
            assert rows(gw.gw.engine, DeadLetter) == [] == rows(gw.gw.engine, InboxMessage)
    rejected = [json.loads(line) for line in lines if "stripe_signature_rejected" in line]
    assert rejected and rejected[0]["reason"] == "signature_mismatch"
    assert not any("SECRET-BODY-MARKER-7731" in line for line in lines)


async def test_stripe_redelivery_is_answered_duplicate_and_changes_nothing(tmp_path):
    async with running_gateway(config(tmp_path)) as gw:
        first = await gw.post_stripe(STRIPE[0])
        assert first.status_code == 202 and first.json()["events"]
        before = len(rows(gw.gw.engine, ForwardItem))
        again = await gw.post_stripe(STRIPE[0])
        assert again.status_code == 200
        assert again.json() == {"received": True, "duplicate": True, "event_id": STRIPE[0]["id"]}
        assert len(rows(gw.gw.engine, ForwardItem)) == before
        assert len(rows(gw.gw.engine, InboxMessage)) == 1


async def test_redelivery_that_now_maps_supersedes_its_dead_letter(tmp_path):
    invoice_first = next(e for e in STRIPE if e["type"] == "invoice.finalized")
    inv = invoice_first["data"]["object"]
    note = se.event("evt_1TestCreditNote1", "credit_note.created", T0, se.credit_note(
        "cn_1TestNote0001", inv["customer"], inv["id"], "eur", T0, [("cnli_1", 1000, 190)]))
    async with running_gateway(config(tmp_path)) as gw:
        early = await gw.post_stripe(note)
        assert early.status_code == 422 and early.json()["error"] == "unroutable"
        assert (await gw.post_stripe(invoice_first)).status_code == 202
        retried = await gw.post_stripe(note)  # Stripe retries a 4xx later
        assert retried.status_code == 202
        letter = dlq.get(gw.gw.engine, early.json()["dead_letter_ids"][0])
        assert letter is not None and letter.status == "superseded"
        assert letter.inbox_id == retried.json()["inbox_id"]


async def test_replay_after_a_mapping_fix_forwards_the_dead_letters(
        tmp_path, monkeypatch, dev_env: WorkflowEnvironment):
    customers_file = tmp_path / "stripe_customers.toml"
    customers_file.write_text(CUSTOMERS_TOML)
    sub_id = "sub_1TestStranger02"

    async def connect() -> Any:
        return dev_env.client

    cfg = config(tmp_path, connect=connect, customers=CustomerMap(customers_file))
    async with running_gateway(cfg) as gw:
        refused = await gw.post_stripe(stranger_subscription(sub_id))
        assert refused.json()["error"] == "unmappable_customer"
        # the fix: the customer map learns the Stripe customer
        customers_file.write_text(CUSTOMERS_TOML + """
[customers.cus_TestStranger01]
customer_id = "cus_test_stranger"
name = "Stranger Ltd"
legal_entity = "US01"
country = "US"
currency = "USD"

[customers.cus_TestStranger01.bill_to]
name = "Stranger Ltd"

[customers.cus_TestStranger01.bill_to.address]
line1 = "1 Main St"
city = "Austin"
postal_code = "73301"
region = "TX"
country = "US"
""")
        monkeypatch.setenv("CASHLOOP_DATABASE_URL", cfg.store_url)
        monkeypatch.setenv("CASHLOOP_STRIPE_CUSTOMERS_FILE", str(customers_file))
        assert await asyncio.to_thread(starter.main, [
            "dlq", "replay", "--category", "unmappable_customer", "--no-forward"]) == 0
        letter = dlq.get(gw.gw.engine, refused.json()["dead_letter_ids"][0])
        assert letter is not None and letter.status == "replayed"
        assert [h["action"] for h in letter.history] == ["received", "replay"]

        async def delivered() -> bool:
            try:
                ids = await signalled_event_ids(dev_env.client, sub_id)
            except Exception:
                return False
            return ids == [f"stripe:subscription:{sub_id}:activated"]

        await eventually(delivered)
        # no longer open: skipped, and says so
        assert await asyncio.to_thread(starter.main, ["dlq", "replay", str(letter.id)]) == 1


async def test_dlq_list_and_show_report_the_kept_letter(tmp_path, monkeypatch, capsys):
    unknown = {**DEMO[0], "event_id": "evt_listed", "event_type": "subscription.paused"}
    cfg = config(tmp_path)
    async with running_gateway(cfg) as gw:
        refused = await gw.post_events(unknown)
    letter_id = refused.json()["dead_letter_ids"][0]
    monkeypatch.setenv("CASHLOOP_DATABASE_URL", cfg.store_url)
    capsys.readouterr()
    assert await asyncio.to_thread(starter.main, ["dlq", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["category"], listed["source_event_id"]) == (
        letter_id, "unknown_event_type", "evt_listed")
    assert "body" not in listed
    assert await asyncio.to_thread(starter.main, ["dlq", "show", str(letter_id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert json.loads(shown["body"]) == unknown
    assert shown["reason"]["errors"][0]["path"] == "event_type"
    assert await asyncio.to_thread(starter.main, ["dlq", "show", "999999"]) == 1
