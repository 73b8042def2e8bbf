"""The sandbox CRM over real HTTP: legal-entity rules, blocked accounts, notices."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.sandbox.serve import running_sandboxes
from canonical.errors import InvalidDataError, NotFoundError, RejectedError
from tests.sandbox_harness import ENTITIES, customer, sqlite_stores, uid


@pytest.fixture(scope="module")
async def crm_client(tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[httpx.AsyncClient]:
    stores = sqlite_stores(tmp_path_factory.mktemp("crm"))
    async with running_sandboxes(["crm"], stores, ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["crm"], timeout=30) as client:
        yield client


@pytest.fixture
def crm(crm_client: httpx.AsyncClient) -> SandboxCrmAdapter:
    return SandboxCrmAdapter(crm_client)


async def test_valid_customer_gets_a_stable_account_id(crm: SandboxCrmAdapter) -> None:
    cust = customer()
    first = await crm.validate_customer(cust, correlation_id="c")
    again = await crm.validate_customer(cust, correlation_id="c")
    expected = "CRM-" + hashlib.sha256(cust.customer_id.encode()).hexdigest()[:8].upper()
    assert (first.valid, first.legal_entity, first.crm_account_id) == (True, "US01", expected)
    assert again == first
    account = await crm.get_account(cust.customer_id, correlation_id="c")
    assert (account.legal_entity, account.country) == ("US01", "US")


async def test_seeded_account_id_is_kept(crm: SandboxCrmAdapter) -> None:
    cust = customer()
    await crm.update_account(cust.customer_id, crm_account_id="SF-0042", correlation_id="c")
    result = await crm.validate_customer(cust, correlation_id="c")
    assert result.crm_account_id == "SF-0042"


async def test_unknown_legal_entity_is_invalid(crm: SandboxCrmAdapter,
                                               crm_client: httpx.AsyncClient) -> None:
    cust = customer(legal_entity="ZZ01")
    with pytest.raises(InvalidDataError):
        await crm.validate_customer(cust, correlation_id="c")
    raw = await crm_client.post("/v1/customers/validate",
                                json={"customer": cust.model_dump(mode="json")})
    assert (raw.status_code, raw.json()["type"]) == (422, "unknown_legal_entity")


async def test_country_of_another_entity_is_invalid_naming_it(
        crm: SandboxCrmAdapter, crm_client: httpx.AsyncClient) -> None:
    cust = customer(legal_entity="US01", country="DE", currency="EUR", region=None)
    with pytest.raises(InvalidDataError):
        await crm.validate_customer(cust, correlation_id="c")
    raw = await crm_client.post("/v1/customers/validate",
                                json={"customer": cust.model_dump(mode="json")})
    assert (raw.status_code, raw.json()["type"]) == (422, "wrong_legal_entity")
    assert "DE01" in raw.json()["detail"]  # the reason names the entity serving DE


async def test_blocked_account_is_rejected(crm: SandboxCrmAdapter) -> None:
    cust = customer()
    await crm.update_account(cust.customer_id, blocked=True, correlation_id="c")
    with pytest.raises(RejectedError):
        await crm.validate_customer(cust, correlation_id="c")


async def test_renewal_intent_is_kept_on_the_account(crm: SandboxCrmAdapter) -> None:
    cust = customer()
    await crm.validate_customer(cust, correlation_id="c")
    await crm.update_account(cust.customer_id, renewal_opt_out=True,
                             renewal_plan_changes={"plan_code": "pro-monthly"},
                             correlation_id="c")
    account = await crm.get_account(cust.customer_id, correlation_id="c")
    assert account.renewal_opt_out
    assert account.renewal_plan_changes == {"plan_code": "pro-monthly"}
    assert not account.blocked


async def test_unknown_account_is_not_found(crm: SandboxCrmAdapter) -> None:
    with pytest.raises(NotFoundError):
        await crm.get_account(uid("nobody"), correlation_id="c")


async def test_notices_are_idempotent_by_id(crm: SandboxCrmAdapter) -> None:
    sub = uid("sub")
    first = await crm.send_notice("n-1-" + sub, "cus-1", "dunning_reminder",
                                  subscription_id=sub, detail={"attempt": 1},
                                  correlation_id="c")
    again = await crm.send_notice("n-1-" + sub, "cus-1", "dunning_reminder",
                                  subscription_id=sub, detail={"attempt": 1},
                                  correlation_id="c")
    await crm.send_notice("n-2-" + sub, "cus-1", "suspension_warning", subscription_id=sub,
                          correlation_id="c")
    assert (first.duplicate, again.duplicate) == (False, True)
    listed = await crm.notices(subscription_id=sub, correlation_id="c")
    assert [n.kind for n in listed] == ["dunning_reminder", "suspension_warning"]
    with pytest.raises(RejectedError):
        await crm.send_notice("n-1-" + sub, "cus-1", "other", subscription_id=sub,
                              correlation_id="c")
