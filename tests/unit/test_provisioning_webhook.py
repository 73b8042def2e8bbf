"""The provisioning webhook connector against a product that verifies and applies it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from adapters.provisioning.port import EntitlementChange, EntitlementStatus
from adapters.provisioning.webhook import WebhookProvisioningAdapter, sign, verify
from canonical.errors import InvalidDataError, NotFoundError, RejectedError
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.flows_harness import World, annual, fresh_ts_env, quiet, running, until
from tests.unit.flows_harness import send as send_events
from tests.unit.provisioning_webhook_fake import SECRET, URL, FakeProduct

CID = "corr-prov"


@pytest.fixture
def product() -> FakeProduct:
    return FakeProduct()


@pytest.fixture
async def provisioning(product: FakeProduct) -> AsyncIterator[WebhookProvisioningAdapter]:
    async with httpx.AsyncClient(transport=product.transport()) as client:
        yield WebhookProvisioningAdapter(client, URL, SECRET)


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"type":"entitlements.grant"}'
    header = sign(SECRET, body, 1_770_000_000)
    assert verify(SECRET, header, body, now=1_770_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_770_000_100)
    assert not verify("other", header, body, now=1_770_000_100)
    assert not verify(SECRET, header, body, now=1_770_000_400)  # replayed 400 s later
    assert not verify(SECRET, "v1=abc", body, now=1_770_000_100)


async def test_changes_are_sent_signed_and_the_products_answer_is_the_result(
        provisioning: WebhookProvisioningAdapter, product: FakeProduct) -> None:
    granted = await provisioning.grant(EntitlementChange(
        subscription_id="sub_p1", customer_id="cus_p1", skus=["SKU-PRO"]), correlation_id=CID)
    suspended = await provisioning.suspend("sub_p1", correlation_id=CID)
    again = await provisioning.suspend("sub_p1", correlation_id=CID)  # idempotent by state
    restored = await provisioning.restore("sub_p1", correlation_id=CID)
    assert [e.status for e in (granted, suspended, again, restored)] == [
        EntitlementStatus.GRANTED, EntitlementStatus.SUSPENDED, EntitlementStatus.SUSPENDED,
        EntitlementStatus.GRANTED]
    assert [d["type"] for d in product.deliveries] == [
        "entitlements.grant", "entitlements.suspend", "entitlements.suspend",
        "entitlements.restore"]
    assert len({d["id"] for d in product.deliveries}) == 4  # one id per delivery


async def test_refusals_are_errors_of_their_kind(
        provisioning: WebhookProvisioningAdapter, product: FakeProduct) -> None:
    with pytest.raises(NotFoundError):
        await provisioning.suspend("sub_never", correlation_id=CID)
    await provisioning.grant(EntitlementChange(subscription_id="sub_p2", customer_id="c",
                                               skus=["S"]), correlation_id=CID)
    await provisioning.revoke("sub_p2", correlation_id=CID)
    with pytest.raises(RejectedError):
        await provisioning.restore("sub_p2", correlation_id=CID)
    async with httpx.AsyncClient(transport=product.transport()) as client:
        wrong = WebhookProvisioningAdapter(client, URL, "not-the-secret")
        with pytest.raises(InvalidDataError, match="401"):
            await wrong.revoke("sub_p2", correlation_id=CID)


async def test_the_worker_uses_the_webhook_when_configured() -> None:
    settings = Settings(provisioning_connector="webhook", provisioning_webhook_url=URL)
    secrets = Secrets(provisioning_webhook_secret=SecretStr(SECRET))
    async with configured_ports(settings, secrets) as p:
        assert isinstance(p.provisioning, WebhookProvisioningAdapter)
    with pytest.raises(ValueError, match="needs CASHLOOP_PROVISIONING_WEBHOOK_URL"):
        async with configured_ports(settings, Secrets()):
            pass


async def test_an_activation_grants_through_the_product(product: FakeProduct) -> None:
    async with fresh_ts_env() as env, httpx.AsyncClient(
            transport=product.transport()) as client:
        world, life = World(), annual("sub_pw")
        world.provisioning = WebhookProvisioningAdapter(  # type: ignore[assignment]
            client, URL, SECRET)
        async with running(env.client, "tq-prov-webhook", world) as config:
            handle = await send_events(env.client, config, life.events)
            await until(handle, quiet(2))
    assert product.entitlements["sub_pw"]["status"] == "granted"
    assert product.entitlements["sub_pw"]["skus"] == ["SKU-PRO"]
