"""`starter.py connectors check` against the vendors' stand-ins over HTTP."""

from __future__ import annotations

import datetime as dt

from pydantic import SecretStr

from cli.connectors import check_all
from settings import Settings
from settings_secrets import Secrets
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.unit.ecb_api_fake import FakeEcb
from tests.unit.netsuite_api_fake import CREDENTIALS
from tests.unit.salesforce_api_fake import CLIENT_ID, CLIENT_SECRET, FakeSalesforce
from tests.unit.stripe_api_fake import API_KEY, FakeStripe
from tests.unit.test_netsuite_erp import books, fake_netsuite
from tests.vendor_standins import serving

SECRETS = Secrets(stripe_api_key=SecretStr(API_KEY), avatax_license_key=SecretStr(LICENSE),
                  salesforce_client_id=SecretStr(CLIENT_ID),
                  salesforce_client_secret=SecretStr(CLIENT_SECRET),
                  netsuite_consumer_key=SecretStr(CREDENTIALS.consumer_key),
                  netsuite_consumer_secret=SecretStr(CREDENTIALS.consumer_secret),
                  netsuite_token_id=SecretStr(CREDENTIALS.token_id),
                  netsuite_token_secret=SecretStr(CREDENTIALS.token_secret))


async def test_a_right_setup_checks_ok_and_each_mistake_is_named() -> None:
    netsuite, org = fake_netsuite(), FakeSalesforce()
    handlers = {"stripe": FakeStripe()._handle, "avatax": FakeAvaTax()._handle,
                "netsuite": netsuite._handle, "salesforce": org._handle,
                "ecb": FakeEcb()._handle}
    async with serving(handlers) as url:
        settings = Settings(
            payments_connector="stripe", stripe_api_base=url["stripe"],
            tax_connector="avalara", avatax_api_base=url["avatax"], avatax_account_id=ACCOUNT,
            netsuite_account_id=CREDENTIALS.account_id, netsuite_api_base=url["netsuite"],
            netsuite_books=books(), crm_connector="salesforce",
            salesforce_domain=url["salesforce"], rates_connector="ecb",
            ecb_api_base=url["ecb"])
        today = dt.date(2026, 1, 11)
        assert await check_all(settings, SECRETS, today=today) == [
            ("stripe", []), ("avatax", []), ("netsuite", []), ("salesforce", []), ("ecb", [])]

        wrong = books().model_copy(update={
            "accounts": {"US01": {"1200": "94000", "2400": "999"}},
            "currencies": {"USD": "4"}})
        org.fields["Task"].remove("Cashloop_Notice_Id__c")
        results = dict(await check_all(
            settings.model_copy(update={"netsuite_books": wrong}),
            SECRETS.model_copy(update={"avatax_license_key": SecretStr("bad")}),
            today=today))
    assert results["avatax"] == [
        "AvaTax: the account id and license key are not accepted "
        "(CASHLOOP_AVATAX_ACCOUNT_ID, CASHLOOP_AVATAX_LICENSE_KEY)"]
    assert results["netsuite"] == [
        "NetSuite: US01 account 1200 -> 94000, which is account number 4000",
        "NetSuite: US01 account 2400 -> 999: no such account",
        "NetSuite: currency USD -> 4, which is EUR"]
    assert results["salesforce"] == ["Salesforce: Task has no field Cashloop_Notice_Id__c"]
    assert results["stripe"] == [] and results["ecb"] == []
