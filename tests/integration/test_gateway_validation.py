"""The validation API against the CRM and tax sandboxes over HTTP, with their fault injection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.sandbox.client import SandboxAdminClient
from adapters.sandbox.serve import running_sandboxes
from gateway import postvalidation
from tests.integration.gateway_harness import API_KEY, ENTITIES, Running, config, eventually
from tests.integration.gateway_harness import running_gateway as gateway_running
from tests.sandbox_harness import customer, sqlite_stores, uid

HEADERS = {"X-API-Key": API_KEY}
COOLDOWN_S = 0.5


@contextlib.asynccontextmanager
async def stack(tmp: Path, **overrides: Any) -> AsyncIterator[tuple[Running, dict[str, Any]]]:
    async with running_sandboxes(["crm", "tax"], sqlite_stores(tmp), ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["crm"]) as crm, \
            httpx.AsyncClient(base_url=urls["tax"]) as tax:
        settings = {"breaker_failures": 3, "breaker_cooldown_s": COOLDOWN_S,
                    "validation_timeout_s": 1.0, **overrides}
        cfg = config(tmp, crm_url=urls["crm"], tax_url=urls["tax"], **settings)
        async with gateway_running(cfg) as gw:
            yield gw, {"crm": SandboxAdminClient(crm, "crm"), "tax": SandboxAdminClient(tax, "tax"),
                       "crm_adapter": SandboxCrmAdapter(crm)}


def customer_body(customer_id: str | None = None) -> dict[str, Any]:
    return {"customer": customer(customer_id or uid("cus")).model_dump(mode="json")}


async def breaker(gw: Running, name: str) -> dict[str, Any]:
    health = (await gw.http.get("/v1/health")).json()
    return dict(health["breakers"][name])


async def validate(gw: Running, body: dict[str, Any]) -> dict[str, Any]:
    answer = await gw.http.post("/v1/validate/customer", json=body, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_customer_validation_is_answered_by_the_crm(tmp_path):
    async with stack(tmp_path) as (gw, _):
        ok = await validate(gw, customer_body())
        assert ok["valid"] is True and ok["provisional"] is False
        assert ok["crm_account_id"].startswith("CRM-")
        wrong = customer_body()
        wrong["customer"]["legal_entity"] = "DE01"  # a US customer
        refused = await validate(gw, wrong)
        assert refused["valid"] is False and refused["reasons"][0]["code"] == "wrong_legal_entity"
        assert (await breaker(gw, "crm"))["state"] == "closed"  # a refusal is not an outage


async def test_validation_requires_an_api_key(tmp_path):
    async with stack(tmp_path) as (gw, _):
        answer = await gw.http.post("/v1/validate/customer", json=customer_body())
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


async def test_breaker_opens_fails_fast_probes_half_open_and_closes(tmp_path):
    async with stack(tmp_path) as (gw, admin):
        await admin["crm"].set_faults(error_rate=1.0, error_kinds=["503"])
        for _ in range(3):
            answer = await validate(gw, customer_body())
            assert answer["provisional"] is True and answer["post_validation_id"]
        assert (await breaker(gw, "crm"))["state"] == "open"
        await admin["crm"].reset_stats()
        fast = await validate(gw, customer_body())  # open: no request reaches the CRM
        assert fast["provisional"] is True
        assert (await admin["crm"].stats())["requests"] == 0

        async def half_open() -> bool:
            return (await breaker(gw, "crm"))["state"] == "half_open"

        await eventually(half_open, limit_s=30, every=0.1)
        await validate(gw, customer_body())  # the probe fails: open again
        assert (await admin["crm"].stats())["requests"] == 1
        state = await breaker(gw, "crm")
        assert state["state"] == "open" and state["opened_count"] == 2

        await admin["crm"].reset_faults()
        await eventually(half_open, limit_s=30, every=0.1)
        healed = await validate(gw, customer_body())  # the probe succeeds: closed
        assert healed["provisional"] is False and healed["valid"] is True
        assert (await breaker(gw, "crm"))["state"] == "closed"
        metrics = (await gw.http.get("/metrics")).text
        assert 'cashloop_gateway_breaker_state{downstream="crm"} 0' in metrics


async def test_per_call_timeout_counts_as_a_failure(tmp_path):
    async with stack(tmp_path, validation_timeout_s=0.3) as (gw, admin):
        await admin["crm"].set_faults(error_rate=1.0, error_kinds=["timeout"], hang_ms=3000)
        answer = await validate(gw, customer_body())
        assert answer["provisional"] is True
        assert (await breaker(gw, "crm"))["consecutive_failures"] == 1


async def test_provisional_answer_contradicted_later_raises_an_exception_item(tmp_path):
    async with stack(tmp_path) as (gw, admin):
        blocked = uid("cus")
        await admin["crm_adapter"].update_account(blocked, correlation_id="seed", blocked=True)
        await admin["crm"].set_faults(error_rate=1.0, error_kinds=["503"])
        provisional = await validate(gw, customer_body(blocked))
        assert provisional["provisional"] is True and provisional["valid"] is True
        confirmed_one = await validate(gw, customer_body())
        await admin["crm"].reset_faults()

        async def settled() -> bool:
            await postvalidation.run_pending(gw.gw.engine, gw.gw.validation)
            rows = postvalidation.find(gw.gw.engine)
            return all(r.status != "pending" for r in rows)

        await eventually(settled, limit_s=30, every=COOLDOWN_S)
        items = (await gw.http.get("/v1/post-validations", params={"status": "exception"},
                                   headers=HEADERS)).json()
        assert [i["id"] for i in items] == [provisional["post_validation_id"]]
        assert items[0]["detail"]["real"]["reasons"][0]["code"] == "blocked"
        done = postvalidation.find(gw.gw.engine, "confirmed")
        assert [r.id for r in done] == [confirmed_one["post_validation_id"]]
        metrics = (await gw.http.get("/metrics")).text
        assert 'cashloop_gateway_post_validations{status="exception"} 1' in metrics


def order_body(customer_id: str | None = None) -> dict[str, Any]:
    return {**customer_body(customer_id), "currency": "USD",
            "lines": [{"line_id": "l1", "amount": "1000.00"}]}


async def test_order_validation_determines_entity_credit_and_nexus(tmp_path):
    async with stack(tmp_path) as (gw, admin):
        answer = (await gw.http.post("/v1/validate/order", json=order_body(),
                                     headers=HEADERS)).json()
        assert answer["valid"] is True and answer["provisional"] is False
        assert answer["legal_entity"] == {"requested": "US01", "determined": "US01",
                                          "name": "Cashloop Demo Inc.", "ok": True}
        assert answer["tax"]["has_nexus"] is True and answer["tax"]["jurisdiction"] == "US-CA"
        assert answer["tax"]["estimated_tax"] == {"amount": "72.50", "currency": "USD"}
        held = uid("cus")
        await admin["crm_adapter"].update_account(held, correlation_id="seed", blocked=True)
        refused = (await gw.http.post("/v1/validate/order", json=order_body(held),
                                      headers=HEADERS)).json()
        assert refused["valid"] is False and refused["credit"]["ok"] is False
        assert refused["reasons"][0]["code"] == "credit_hold"


async def test_tax_quote_falls_back_to_the_last_known_rate_and_is_confirmed_later(tmp_path):
    quote: dict[str, Any] = {
        "currency": "USD", "ship_to": customer().bill_to.address.model_dump(mode="json"),
        "lines": [{"line_id": "l1", "amount": "200.00"}]}
    async with stack(tmp_path) as (gw, admin):
        await gw.http.post("/v1/validate/order", json=order_body(), headers=HEADERS)  # caches
        live = (await gw.http.post("/v1/tax/quote", json=quote, headers=HEADERS)).json()
        assert live["provisional"] is False and live["total"]["amount"] == "14.50"
        await admin["tax"].set_faults(error_rate=1.0, error_kinds=["500"])
        fallback = (await gw.http.post("/v1/tax/quote", json=quote, headers=HEADERS)).json()
        assert fallback["provisional"] is True and fallback["total"] == live["total"]
        elsewhere = {**quote, "ship_to": {**quote["ship_to"], "country": "JP", "region": None}}
        unknown = await gw.http.post("/v1/tax/quote", json=elsewhere, headers=HEADERS)
        assert unknown.status_code == 503 and unknown.json()["error"] == "downstream_unavailable"
        await admin["tax"].reset_faults()

        async def confirmed() -> bool:
            await postvalidation.run_pending(gw.gw.engine, gw.gw.validation)
            return [r.status for r in postvalidation.find(gw.gw.engine)] == ["confirmed"]

        await eventually(confirmed, limit_s=30, every=COOLDOWN_S)


@pytest.mark.parametrize("amount", ["10.005", "abc"])
async def test_tax_quote_with_an_invalid_amount_is_422(tmp_path, amount):
    quote = {"currency": "USD", "ship_to": customer().bill_to.address.model_dump(mode="json"),
             "lines": [{"line_id": "l1", "amount": amount}]}
    async with stack(tmp_path) as (gw, _):
        answer = await gw.http.post("/v1/tax/quote", json=quote, headers=HEADERS)
        assert answer.status_code == 422 and answer.json()["error"] == "schema_invalid"
