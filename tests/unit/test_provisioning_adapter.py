"""SandboxProvisioningAdapter over httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from adapters.http import CORRELATION_HEADER
from adapters.provisioning.port import EntitlementChange, EntitlementStatus
from adapters.provisioning.sandbox import SandboxProvisioningAdapter
from canonical.errors import CashloopError, NotFoundError, RejectedError


def _prov(status: int, body: dict, seen: list[httpx.Request]) -> SandboxProvisioningAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return SandboxProvisioningAdapter(httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                                        base_url="http://prov"))


async def test_grant_posts_customer_and_skus() -> None:
    seen: list[httpx.Request] = []
    prov = _prov(200, {"subscription_id": "s1", "status": "granted", "skus": ["PRO"]}, seen)
    result = await prov.grant(EntitlementChange(subscription_id="s1", customer_id="c1",
                                                skus=["PRO"]), correlation_id="corr-1")
    assert result.status == EntitlementStatus.GRANTED
    assert seen[0].url.path == "/v1/entitlements/s1/grant"
    assert json.loads(seen[0].content) == {"customer_id": "c1", "skus": ["PRO"]}
    assert seen[0].headers[CORRELATION_HEADER] == "corr-1"


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (409, RejectedError)])
async def test_refusals_map_to_canonical_errors(status: int, error: type[CashloopError]) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(error) as info:
        await _prov(status, {"detail": "x"}, seen).restore("s1", correlation_id="c")
    assert info.value.kind.startswith("provisioning.")
    assert seen[0].url.path == "/v1/entitlements/s1/restore"
