"""SandboxCrmAdapter over httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.http import CORRELATION_HEADER
from canonical.errors import (
    CashloopError,
    InvalidDataError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from tests.sandbox_harness import customer


def _crm(status: int, body: dict, seen: list[httpx.Request] | None = None,
         headers: dict[str, str] | None = None) -> SandboxCrmAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    return SandboxCrmAdapter(httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                               base_url="http://crm"))


async def test_validation_answer_becomes_the_port_model() -> None:
    cust = customer()
    seen: list[httpx.Request] = []
    crm = _crm(200, {"customer_id": cust.customer_id, "crm_account_id": "CRM-1",
                     "legal_entity": "US01", "valid": True, "reasons": []}, seen)
    result = await crm.validate_customer(cust, correlation_id="corr-7")
    assert (result.crm_account_id, result.valid) == ("CRM-1", True)
    assert seen[0].headers[CORRELATION_HEADER] == "corr-7"
    assert json.loads(seen[0].content)["customer"]["customer_id"] == cust.customer_id


@pytest.mark.parametrize(("status", "error"), [
    (422, InvalidDataError), (409, RejectedError), (503, UnavailableError),
])
async def test_refusals_map_to_canonical_errors(status: int, error: type[CashloopError]) -> None:
    with pytest.raises(error) as info:
        await _crm(status, {"detail": "no", "type": "t"}).validate_customer(
            customer(), correlation_id="c")
    assert info.value.kind.startswith("crm.")


async def test_rate_limit_carries_retry_after() -> None:
    crm = _crm(429, {"detail": "slow"}, headers={"Retry-After": "3"})
    with pytest.raises(RateLimitedError) as info:
        await crm.validate_customer(customer(), correlation_id="c")
    assert info.value.retry_after_s == 3.0
