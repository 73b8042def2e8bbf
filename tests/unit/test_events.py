"""Envelope validation, upcasting and schema export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from canonical.events import EVENT_TYPES, PaymentSucceededEvent
from canonical.schemas import InvalidEventError, all_versions, export_json_schemas, parse_event
from cli.send import read_events

DEMO = Path(__file__).parents[2] / "examples" / "demo.jsonl"


def demo_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DEMO.read_text().splitlines()]


def first(event_type: str, version: int | None = None) -> dict[str, Any]:
    return next(e for e in demo_lines() if e["event_type"] == event_type
                and (version is None or e["schema_version"] == version))


def test_every_demo_line_parses() -> None:
    events, problems = read_events(DEMO)
    assert problems == []
    assert len(events) == len(demo_lines())


def test_v1_payment_is_upcast_to_v2() -> None:
    raw = first("payment.succeeded", 1)
    event = parse_event(raw)
    assert isinstance(event, PaymentSucceededEvent)
    assert event.schema_version == 2
    assert str(event.payload.payment.amount.amount) == raw["payload"]["amount"]
    assert event.payload.payment.amount.currency == raw["payload"]["currency"]
    assert event.payload.payment.method == "sepa_debit"
    assert event.keys.payment_id == raw["payload"]["payment_id"]


def test_bad_field_gives_a_precise_path_and_type() -> None:
    raw = first("invoice.issued")
    raw["payload"]["invoice"]["lines"][0]["amount"]["amount"] = "12.345"
    with pytest.raises(InvalidEventError) as err:
        parse_event(raw)
    paths = [e["path"] for e in err.value.errors]
    assert "payload.invoice.lines.0.amount" in paths
    assert err.value.kind == "schema.invalid_event"


def test_missing_field_is_reported_by_path() -> None:
    raw = first("subscription.activated")
    del raw["payload"]["customer"]["legal_entity"]
    with pytest.raises(InvalidEventError) as err:
        parse_event(raw)
    assert {"path": "payload.customer.legal_entity", "type": "missing"}.items() <= \
        err.value.errors[0].items()


@pytest.mark.parametrize(("patch", "error_type"), [
    ({"event_type": "subscription.exploded"}, "unknown_event_type"),
    ({"schema_version": 9}, "unsupported_version"),
    ({"occurred_at": "2026-01-01T00:00:00"}, "timezone_aware"),
])
def test_envelope_errors(patch: dict[str, Any], error_type: str) -> None:
    raw = {**first("invoice.issued"), **patch}
    with pytest.raises(InvalidEventError) as err:
        parse_event(raw)
    assert err.value.errors[0]["type"] == error_type


def test_keys_that_contradict_the_payload_are_refused() -> None:
    raw = first("invoice.issued")
    raw["keys"]["invoice_id"] = "in_other"
    with pytest.raises(InvalidEventError) as err:
        parse_event(raw)
    assert "keys.invoice_id" in err.value.errors[0]["message"]


def test_not_json_is_reported() -> None:
    with pytest.raises(InvalidEventError) as err:
        parse_event("{not json")
    assert err.value.errors[0]["type"] == "json_invalid"


def test_schema_export_writes_every_version(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    names = {p.name for p in written}
    assert "payment.succeeded.v1.schema.json" in names
    assert "payment.succeeded.v2.schema.json" in names
    assert len(written) == len(all_versions())
    schema = json.loads((tmp_path / "invoice.issued.v1.schema.json").read_text())
    assert "payload" in schema["properties"]


def test_every_example_in_docs_events_md_parses_and_every_type_has_one() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    blocks = re.findall(r"```json\n(.*?)\n```", doc, flags=re.S)
    parsed = [parse_event(block) for block in blocks]
    assert {e.event_type for e in parsed} == set(EVENT_TYPES)
