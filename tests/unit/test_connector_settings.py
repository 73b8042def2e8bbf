"""Every vendor connector switched on through the environment variables README names."""

from __future__ import annotations

import pytest

from adapters.billing.stripe import StripeBillingAdapter
from adapters.crm.salesforce import SalesforceCrmAdapter
from adapters.erp.revenue_subledger import RevenueSubledger
from adapters.payments.stripe import StripePaymentsAdapter
from adapters.provisioning.webhook import WebhookProvisioningAdapter
from adapters.rates.ecb import EcbRatesAdapter
from adapters.tax.avalara import AvalaraTaxAdapter
from cli.send import flow_config
from ports import configured_ports
from settings import Settings
from settings_secrets import load_secrets

ENVIRONMENT = {
    "CASHLOOP_PAYMENTS_CONNECTOR": "stripe",
    "CASHLOOP_BILLING_CONNECTOR": "stripe",
    "CASHLOOP_STRIPE_API_KEY": "sk_test_x",
    "CASHLOOP_TAX_CONNECTOR": "avalara",
    "CASHLOOP_AVATAX_ACCOUNT_ID": "2000123456",
    "CASHLOOP_AVATAX_LICENSE_KEY": "LICENSE",
    "CASHLOOP_AVATAX_COMPANIES": '{"US01": "ACME-US"}',
    "CASHLOOP_AVATAX_SHIP_FROM": '{"US01": {"line1": "1 Main St", "city": "Seattle", '
                                 '"postal_code": "98101", "region": "WA", "country": "US"}}',
    "CASHLOOP_CRM_CONNECTOR": "salesforce",
    "CASHLOOP_SALESFORCE_DOMAIN": "https://acme.my.salesforce.com",
    "CASHLOOP_SALESFORCE_CLIENT_ID": "3MVG9",
    "CASHLOOP_SALESFORCE_CLIENT_SECRET": "s",
    "CASHLOOP_PROVISIONING_CONNECTOR": "webhook",
    "CASHLOOP_PROVISIONING_WEBHOOK_URL": "https://product.example/entitlements",
    "CASHLOOP_PROVISIONING_WEBHOOK_SECRET": "whsec",
    "CASHLOOP_RATES_CONNECTOR": "ecb",
    "CASHLOOP_NETSUITE_ACCOUNT_ID": "1234567_SB1",
    "CASHLOOP_NETSUITE_BOOKS": '{"subsidiaries": {"US01": "1"}, "accounts": {"US01": '
                               '{"1200": "122"}}, "currencies": {"USD": "1"}}',
    "CASHLOOP_NETSUITE_REVENUE_SUBLEDGER": "erp-cloud",
    "CASHLOOP_NETSUITE_CONSUMER_KEY": "ck",
    "CASHLOOP_NETSUITE_CONSUMER_SECRET": "cs",
    "CASHLOOP_NETSUITE_TOKEN_ID": "tk",
    "CASHLOOP_NETSUITE_TOKEN_SECRET": "ts",
}


async def test_the_documented_variables_build_every_connector(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.avatax_ship_from["US01"].region == "WA"
    assert settings.netsuite_books is not None
    assert settings.netsuite_books.accounts == {"US01": {"1200": "122"}}
    assert flow_config(settings).close_written_off_upstream
    async with configured_ports(settings, load_secrets()) as ports:
        assert isinstance(ports.payments, StripePaymentsAdapter)
        assert isinstance(ports.billing, StripeBillingAdapter)
        assert isinstance(ports.tax, AvalaraTaxAdapter)
        assert isinstance(ports.crm, SalesforceCrmAdapter)
        assert isinstance(ports.provisioning, WebhookProvisioningAdapter)
        assert isinstance(ports.rates, EcbRatesAdapter)
        assert {"erp-legacy", "erp-cloud", "netsuite"} <= set(ports.erps)
        assert isinstance(ports.erps["netsuite-revenue"], RevenueSubledger)
