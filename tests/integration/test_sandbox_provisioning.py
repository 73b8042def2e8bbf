"""The sandbox provisioning system over real HTTP: entitlement status transitions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.provisioning.port import EntitlementChange, EntitlementStatus
from adapters.provisioning.sandbox import SandboxProvisioningAdapter
from adapters.sandbox.serve import running_sandboxes
from canonical.errors import NotFoundError, RejectedError
from tests.sandbox_harness import ENTITIES, sqlite_stores, uid

S = EntitlementStatus


@pytest.fixture(scope="module")
async def prov_client(tmp_path_factory: pytest.TempPathFactory
                      ) -> AsyncIterator[httpx.AsyncClient]:
    stores = sqlite_stores(tmp_path_factory.mktemp("prov"))
    async with running_sandboxes(["provisioning"], stores, ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["provisioning"], timeout=30) as client:
        yield client


@pytest.fixture
def prov(prov_client: httpx.AsyncClient) -> SandboxProvisioningAdapter:
    return SandboxProvisioningAdapter(prov_client)


async def test_full_lifecycle_is_idempotent_at_every_step(
        prov: SandboxProvisioningAdapter) -> None:
    sub = uid("sub")
    change = EntitlementChange(subscription_id=sub, customer_id="cus-1", skus=["PRO", "SSO"])
    steps = [
        (lambda: prov.grant(change, correlation_id="c"), S.GRANTED),
        (lambda: prov.grant(change, correlation_id="c"), S.GRANTED),
        (lambda: prov.suspend(sub, correlation_id="c"), S.SUSPENDED),
        (lambda: prov.suspend(sub, correlation_id="c"), S.SUSPENDED),
        (lambda: prov.restore(sub, correlation_id="c"), S.GRANTED),
        (lambda: prov.restore(sub, correlation_id="c"), S.GRANTED),
        (lambda: prov.revoke(sub, correlation_id="c"), S.REVOKED),
        (lambda: prov.revoke(sub, correlation_id="c"), S.REVOKED),
    ]
    for call, status in steps:
        result = await call()
        assert (result.subscription_id, result.status, result.skus) == (
            sub, status, ["PRO", "SSO"])
    assert (await prov.get(sub, correlation_id="c")).status == S.REVOKED


async def test_restore_or_grant_after_revoke_is_rejected(
        prov: SandboxProvisioningAdapter) -> None:
    sub = uid("sub")
    change = EntitlementChange(subscription_id=sub, customer_id="cus-1", skus=["PRO"])
    await prov.grant(change, correlation_id="c")
    await prov.revoke(sub, correlation_id="c")
    with pytest.raises(RejectedError):
        await prov.restore(sub, correlation_id="c")
    with pytest.raises(RejectedError):
        await prov.suspend(sub, correlation_id="c")
    with pytest.raises(RejectedError):
        await prov.grant(change, correlation_id="c")


async def test_grant_while_suspended_changes_skus_only(prov: SandboxProvisioningAdapter) -> None:
    sub = uid("sub")
    await prov.grant(EntitlementChange(subscription_id=sub, customer_id="c1", skus=["PRO"]),
                     correlation_id="c")
    await prov.suspend(sub, correlation_id="c")
    result = await prov.grant(
        EntitlementChange(subscription_id=sub, customer_id="c1", skus=["ENT"]),
        correlation_id="c")
    assert (result.status, result.skus) == (S.SUSPENDED, ["ENT"])


async def test_unknown_subscription_is_not_found(prov: SandboxProvisioningAdapter) -> None:
    with pytest.raises(NotFoundError):
        await prov.suspend(uid("sub"), correlation_id="c")
    with pytest.raises(NotFoundError):
        await prov.get(uid("sub"), correlation_id="c")
