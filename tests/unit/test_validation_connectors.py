"""The gateway's validation API over the vendor connectors (Salesforce, AvaTax) when set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from devstack import streams
from gateway.breakers import CircuitBreaker
from gateway.config import GatewayConfig
from gateway.validation import ValidationService
from gateway.validation_models import (
    OrderLine,
    QuoteLine,
    TaxQuoteRequest,
    ValidateCustomerRequest,
    ValidateOrderRequest,
)
from ports import validation_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.unit.flows_harness import ENTITIES
from tests.unit.salesforce_api_fake import CLIENT_ID, CLIENT_SECRET, FakeSalesforce
from tests.vendor_standins import serving

CID = "corr-val"


@pytest.fixture
async def vendors() -> AsyncIterator[tuple[dict[str, str], FakeAvaTax, FakeSalesforce]]:
    avatax, org = FakeAvaTax(), FakeSalesforce()
    async with serving({"avatax": avatax._handle, "salesforce": org._handle}) as urls:
        yield urls, avatax, org


def service(urls: dict[str, str]) -> tuple[ValidationService, list]:
    settings = Settings(crm_connector="salesforce", salesforce_domain=urls["salesforce"],
                        tax_connector="avalara", avatax_api_base=urls["avatax"],
                        avatax_account_id=ACCOUNT)
    secrets = Secrets(salesforce_client_id=SecretStr(CLIENT_ID),
                      salesforce_client_secret=SecretStr(CLIENT_SECRET),
                      avatax_license_key=SecretStr(LICENSE))
    ports = validation_ports(settings, secrets, 2.0)
    svc = ValidationService(ports.crm, ports.tax, ENTITIES,
                            crm_breaker=CircuitBreaker("crm", 5, 30.0),
                            tax_breaker=CircuitBreaker("tax", 5, 30.0), timeout_s=5.0,
                            cache_ttl_s=300.0, queue_post_validation=lambda *_: 1)
    return svc, ports.clients


async def test_the_validation_api_answers_from_salesforce_and_avatax(
        vendors: tuple[dict[str, str], FakeAvaTax, FakeSalesforce]) -> None:
    urls, avatax, org = vendors
    svc, clients = service(urls)
    customer = streams.customer("cus_val", "US")  # San Francisco, CA
    try:
        checked = await svc.customer(ValidateCustomerRequest(customer=customer),
                                     correlation_id=CID)
        order = await svc.order(ValidateOrderRequest(
            customer=customer, currency="USD",
            lines=[OrderLine(line_id="l1", amount=Decimal("1200.00"))]), correlation_id=CID)
        quote = await svc.tax_quote(TaxQuoteRequest(
            currency="USD", ship_to=customer.bill_to.address,
            lines=[QuoteLine(line_id="l1", amount=Decimal("1200.00"))]), correlation_id=CID)
    finally:
        for client in clients:
            await client.aclose()
    assert checked.valid and checked.crm_account_id is not None
    assert checked.crm_account_id.startswith("001")  # the Salesforce account's Id
    assert order.valid and order.tax is not None and order.tax.source == "tax"
    assert order.tax.rate == Decimal("0.08875") and order.tax.has_nexus
    assert str(order.tax.estimated_tax) == "106.50 USD"
    assert (quote.provider, str(quote.total)) == ("avalara", "106.50 USD")
    assert avatax.transactions == {} and avatax.quotes == 2  # nothing kept in AvaTax
    assert len(org.records["Account"]) == 1


def test_the_gateway_takes_the_connectors_from_settings(tmp_path) -> None:
    settings = Settings(crm_connector="salesforce", salesforce_domain="https://x.invalid",
                        data_dir=tmp_path)
    assert GatewayConfig.from_settings(settings).validation_ports is not None
    assert GatewayConfig.from_settings(Settings(data_dir=tmp_path)).validation_ports is None
