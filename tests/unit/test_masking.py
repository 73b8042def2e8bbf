"""The PII mask: what it removes, what it leaves alone, and that every log path uses it."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from observability.logging import captured_logs
from observability.masking import MASK, mask_event, mask_text, mask_value


@pytest.mark.parametrize(("text", "secret"), [
    ("contact ada.lovelace+billing@analytical-engines.co.uk now", "ada.lovelace"),
    ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
    ("card 5500-0000-0000-0004 declined", "5500-0000-0000-0004"),
    ("call +49 30 123456789 today", "123456789"),
    ("call (415) 555-0134 today", "555-0134"),
    ("call 415.555.0134 today", "555.0134"),
    ("VAT DE123456789 checked", "DE123456789"),
    ("SSN 123-45-6789 on file", "123-45-6789"),
    ("EIN 12-3456789 on file", "12-3456789"),
    ("ship to 1600 Pennsylvania Ave NW", "Pennsylvania"),
    ("ship to 350 Fifth Ave, New York", "Fifth Ave"),
    ("liefern an Quokkastraße 42, Berlin", "Quokkastraße 42"),
    ("deliver to 1-1 Marunouchi, Tokyo", "1-1 Marunouchi"),
    ("db postgresql://app:pw-123@db:5432/x down", "pw-123"),
    ("1 validation error\n  input_value='Zed Quokka Ltd', input_type=str", "Zed Quokka"),
])
def test_mask_text_removes_personal_data(text: str, secret: str) -> None:
    assert secret not in mask_text(text)


@pytest.mark.parametrize("text", [
    "2026-02-01T09:00:00.123456Z", "posted inv:in_sub_1 to erp-cloud (DE01) 990.00 EUR",
    "workflow subscription-sub_acme_001 run 0b5c7e8a-4f3e-4c43-9d2a-1f6a9b0d1e22",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736", "attempt 3 of 5 after 0.2s", "HTTP 503",
    "card 4111 1111 1111 1112 is not a card (Luhn)",
])
def test_mask_text_leaves_ordinary_log_content_alone(text: str) -> None:
    assert mask_text(text) == text


def test_known_fields_are_masked_whole_even_when_nested() -> None:
    event = {"event": "customer_seen", "customer_id": "cus_1",
             "customer": {"name": "Zed Quokka", "bill_to": {"email": "x@y.test"},
                          "tax_id": "JP-1", "legal_entity": "JP01"},
             "items": [{"phone": "n/a"}]}
    masked = mask_event(None, "info", event)
    assert masked["customer_id"] == "cus_1"
    assert masked["customer"] == {"name": MASK, "bill_to": MASK, "tax_id": MASK,
                                  "legal_entity": "JP01"}
    assert masked["items"] == [{"phone": MASK}]
    assert mask_value(None, "name") is None


def test_structlog_and_stdlib_lines_are_masked_and_carry_the_bound_context() -> None:
    with captured_logs("json") as lines:
        with structlog.contextvars.bound_contextvars(correlation_id="corr-1", legal_entity="DE01"):
            structlog.get_logger("t").info("customer_contacted", email="zed@quokka.test",
                                           note="wrote to zed@quokka.test")
            logging.getLogger("temporalio.worker").warning(
                "failed for %s at %s", "zed@quokka.test", "12 Quokka Street")
        try:
            raise ValueError("card 4111111111111111 rejected")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("boom")
    text = "\n".join(lines)
    assert len(lines) == 3
    assert "zed@quokka.test" not in text and "Quokka Street" not in text
    assert "4111111111111111" not in text
    first, second, third = (json.loads(line) for line in lines)
    assert first["correlation_id"] == second["correlation_id"] == "corr-1"
    assert first["legal_entity"] == "DE01"
    assert second["logger"] == "temporalio.worker"
    assert "[card]" in third["exception"]
