"""SandboxErpAdapter over httpx.MockTransport: error classification, batches, headers."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from adapters.erp.port import ErpReceipt, Posting, ReceiptStatus
from adapters.erp.sandbox import SandboxErpAdapter, SandboxErpReader
from adapters.http import CORRELATION_HEADER
from canonical.errors import (
    CashloopError,
    InvalidDataError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from tests.sandbox_harness import customer, customer_upsert, invoice, invoice_posting

Handler = Callable[[httpx.Request], httpx.Response]


def _adapter(handler: Handler) -> SandboxErpAdapter:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://erp")
    return SandboxErpAdapter("erp-unit", client)


def _receipt(external_id: str, n: int = 1, duplicate: bool = False) -> dict:
    return ErpReceipt(external_id=external_id, document_id=f"INV-{n:06d}",
                      status=ReceiptStatus.POSTED, duplicate=duplicate,
                      erp="erp-unit").model_dump(mode="json")


def _batch_ok(request: httpx.Request) -> httpx.Response:
    postings = json.loads(request.content)["postings"]
    return httpx.Response(200, json={"results": [
        {"receipt": _receipt(p["external_id"], i)} for i, p in enumerate(postings)]})


async def test_post_sends_the_correlation_id_and_returns_receipts_in_order() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _batch_ok(request)

    postings: list[Posting] = [invoice_posting(invoice()) for _ in range(3)]
    receipts = await _adapter(handler).post(postings, correlation_id="corr-42")
    assert [r.external_id for r in receipts] == [p.external_id for p in postings]
    assert seen[0].headers[CORRELATION_HEADER] == "corr-42"
    assert (seen[0].method, seen[0].url.path) == ("POST", "/v1/postings")


async def test_post_splits_into_batches_of_one_hundred() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(json.loads(request.content)["postings"]))
        return _batch_ok(request)

    postings: list[Posting] = [customer_upsert(customer()) for _ in range(250)]
    assert len(await _adapter(handler).post(postings, correlation_id="c")) == 250
    assert sizes == [100, 100, 50]


async def test_post_of_nothing_calls_nobody() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no call expected")

    assert await _adapter(handler).post([], correlation_id="c") == []


@pytest.mark.parametrize(("status", "error"), [
    (409, RejectedError), (422, InvalidDataError), (404, NotFoundError),
    (503, UnavailableError), (429, RateLimitedError),
])
async def test_first_failed_item_raises_like_its_status(
        status: int, error: type[CashloopError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        postings = json.loads(request.content)["postings"]
        return httpx.Response(200, json={"results": [
            {"receipt": _receipt(postings[0]["external_id"])},
            {"error": {"status": status, "type": "unknown_invoice", "detail": "no"}},
            {"error": {"status": 422, "type": "validation", "detail": "later"}},
        ]})

    postings: list[Posting] = [invoice_posting(invoice()) for _ in range(3)]
    with pytest.raises(error) as info:
        await _adapter(handler).post(postings, correlation_id="c")
    assert info.value.kind.startswith("erp.")


async def test_rate_limit_carries_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"})

    with pytest.raises(RateLimitedError) as info:
        await _adapter(handler).post([invoice_posting(invoice())], correlation_id="c")
    assert info.value.retry_after_s == 7.0
    assert info.value.kind == "erp.rate_limited"


@pytest.mark.parametrize(("status", "error"), [
    (500, UnavailableError), (503, UnavailableError), (504, UnavailableError),
    (422, InvalidDataError), (409, RejectedError), (404, NotFoundError),
])
async def test_http_status_maps_to_the_canonical_error(
        status: int, error: type[CashloopError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"detail": "x", "type": "t"})

    with pytest.raises(error):
        await _adapter(handler).get_receipt("inv:1", correlation_id="c")


async def test_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(UnavailableError):
        await _adapter(handler).post([invoice_posting(invoice())], correlation_id="c")


async def test_garbled_answer_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"unexpected": True})

    with pytest.raises(UnavailableError):
        await _adapter(handler).post([invoice_posting(invoice())], correlation_id="c")


async def test_external_ids_are_one_escaped_path_segment() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=_receipt("inv:a/b"))

    adapter = _adapter(handler)
    await adapter.get_receipt("inv:a/b", correlation_id="c")
    await adapter.reverse("inv:a/b", reversal_external_id="r", reason="x", correlation_id="c")
    await adapter.cancel_contract("ctr:a/b", reason="x", correlation_id="c")
    assert paths == ["/v1/postings/inv%3Aa%2Fb", "/v1/postings/inv%3Aa%2Fb/reverse",
                     "/v1/contracts/ctr%3Aa%2Fb/cancel"]


async def test_reader_strips_api_extras_from_journal_entries() -> None:
    entry = invoice_posting(invoice()).entry

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["legal_entity"] == "US01"
        return httpx.Response(200, json={"entries": [{
            **entry.model_dump(mode="json"), "document_id": "INV-000001",
            "status": "posted", "posting_external_id": entry.external_id}]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://erp")
    assert await SandboxErpReader(client).journal_entries(legal_entity="US01") == [entry]
