"""The Salesforce CRM connector against an in-memory org (salesforce_api_fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.crm.salesforce import SalesforceCrmAdapter, salesforce_client
from canonical.errors import InvalidDataError, NotFoundError, RejectedError
from devstack import streams
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.flows_harness import ENTITIES, World, annual, fresh_ts_env, quiet, running, until
from tests.unit.flows_harness import send as send_events
from tests.unit.salesforce_api_fake import CLIENT_ID, CLIENT_SECRET, DOMAIN, FakeSalesforce

CID = "corr-sf"


@pytest.fixture
def org() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
async def crm(org: FakeSalesforce) -> AsyncIterator[SalesforceCrmAdapter]:
    async with salesforce_client(DOMAIN, CLIENT_ID, CLIENT_SECRET,
                                 transport=org.transport()) as client:
        yield SalesforceCrmAdapter(client, ENTITIES)


async def test_a_validated_customer_is_an_account_keyed_by_its_customer_id(
        crm: SalesforceCrmAdapter, org: FakeSalesforce) -> None:
    customer = streams.customer("cus_sf1", "US", name="Initech")
    first = await crm.validate_customer(customer, correlation_id=CID)
    again = await crm.validate_customer(customer.model_copy(update={"name": "Initech LLC"}),
                                        correlation_id=CID)
    assert first.crm_account_id == again.crm_account_id and first.crm_account_id[:3] == "001"
    (account,) = org.records["Account"].values()
    assert (account["Name"], account["Cashloop_Legal_Entity__c"], account["BillingCountry"]
            ) == ("Initech LLC", "US01", "US")
    assert org.tokens_issued == 1  # one token for every call


async def test_the_wrong_entity_and_a_blocked_account_are_refused(
        crm: SalesforceCrmAdapter, org: FakeSalesforce) -> None:
    german = streams.customer("cus_sf2", "DE")
    with pytest.raises(InvalidDataError, match="country DE is served by DE01"):
        await crm.validate_customer(german.model_copy(update={"legal_entity": "US01"}),
                                    correlation_id=CID)
    assert org.records["Account"] == {}  # nothing written for a refused customer
    await crm.validate_customer(german, correlation_id=CID)
    (account,) = org.records["Account"].values()
    account["Cashloop_Blocked__c"] = True  # a salesperson blocks it
    with pytest.raises(RejectedError, match="blocked in Salesforce"):
        await crm.validate_customer(german, correlation_id=CID)


async def test_renewal_intent_is_read_from_the_account(
        crm: SalesforceCrmAdapter, org: FakeSalesforce) -> None:
    await crm.validate_customer(streams.customer("cus_sf3", "US"), correlation_id=CID)
    (account,) = org.records["Account"].values()
    account.update(Cashloop_Renewal_Opt_Out__c=True,
                   Cashloop_Renewal_Plan_Changes__c='{"pro": {"quantity": 3}}')
    got = await crm.get_account("cus_sf3", correlation_id=CID)
    assert (got.renewal_opt_out, got.renewal_plan_changes, got.legal_entity) == (
        True, {"pro": {"quantity": 3}}, "US01")
    assert got.updated_at is not None
    with pytest.raises(NotFoundError):
        await crm.get_account("cus_never", correlation_id=CID)


async def test_a_notice_is_a_task_once_and_an_expired_session_is_renewed(
        crm: SalesforceCrmAdapter, org: FakeSalesforce) -> None:
    await crm.validate_customer(streams.customer("cus_sf4", "US"), correlation_id=CID)
    org.expire_sessions()
    first = await crm.send_notice("dun:in_1:retry_failed:1", "cus_sf4", "dunning_retry_failed",
                                  correlation_id=CID, subscription_id="sub_sf4",
                                  detail={"attempt": 1})
    again = await crm.send_notice("dun:in_1:retry_failed:1", "cus_sf4", "dunning_retry_failed",
                                  correlation_id=CID, subscription_id="sub_sf4",
                                  detail={"attempt": 1})
    assert (first.duplicate, again.duplicate, org.tokens_issued) == (False, True, 2)
    (task,) = org.records["Task"].values()
    (account,) = org.records["Account"].values()
    assert (task["WhatId"], task["Subject"], task["Status"]) == (
        account["Id"], "Cashloop: dunning_retry_failed (sub_sf4)", "Completed")


async def test_wrong_app_credentials_are_refused_not_retried(org: FakeSalesforce) -> None:
    async with salesforce_client(DOMAIN, CLIENT_ID, "wrong",
                                 transport=org.transport()) as client:
        with pytest.raises(RejectedError, match="refused the connected app's credentials"):
            await SalesforceCrmAdapter(client, ENTITIES).get_account("x", correlation_id=CID)


async def test_the_worker_uses_salesforce_when_configured() -> None:
    settings = Settings(crm_connector="salesforce", salesforce_domain=DOMAIN)
    secrets = Secrets(salesforce_client_id=SecretStr(CLIENT_ID),
                      salesforce_client_secret=SecretStr(CLIENT_SECRET))
    async with configured_ports(settings, secrets) as ports:
        assert isinstance(ports.crm, SalesforceCrmAdapter)
    with pytest.raises(ValueError, match="needs CASHLOOP_SALESFORCE_DOMAIN"):
        async with configured_ports(settings, Secrets()):
            pass


async def test_an_activation_validates_in_salesforce(org: FakeSalesforce) -> None:
    async with fresh_ts_env() as env, salesforce_client(
            DOMAIN, CLIENT_ID, CLIENT_SECRET, transport=org.transport()) as client:
        world, life = World(), annual("sub_sfa")
        world.crm = SalesforceCrmAdapter(client, ENTITIES)  # type: ignore[assignment]
        async with running(env.client, "tq-salesforce", world) as config:
            handle = await send_events(env.client, config, life.events)
            view = await until(handle, quiet(2))
    assert view.state == "Active"
    (account,) = org.records["Account"].values()
    assert account["Cashloop_Customer_Id__c"] == "cus_sub_sfa"
