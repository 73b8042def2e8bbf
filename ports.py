"""The ports a worker runs with: the sandbox systems, or the vendor connectors the
settings name (docs/connectors.md), each client built with a clear error when its
settings or secrets are missing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from adapters.billing.port import BillingPort
from adapters.billing.stripe import StripeBillingAdapter
from adapters.crm.port import CrmPort
from adapters.crm.salesforce import SalesforceCrmAdapter, salesforce_client
from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.erp.batching import ErpBatcher
from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import TbaCredentials, netsuite_client
from adapters.erp.netsuite_records import NetSuiteBooks
from adapters.erp.port import ErpPort
from adapters.erp.revenue_subledger import RevenueSubledger
from adapters.erp.sandbox import SandboxErpAdapter
from adapters.payments.port import PaymentsPort
from adapters.payments.sandbox import SandboxPaymentsAdapter
from adapters.payments.stripe import STRIPE_VERSION, StripePaymentsAdapter, stripe_client
from adapters.provisioning.port import ProvisioningPort
from adapters.provisioning.sandbox import SandboxProvisioningAdapter
from adapters.provisioning.webhook import WebhookProvisioningAdapter
from adapters.rates.ecb import EcbRatesAdapter, ecb_client
from adapters.rates.port import RatePort
from adapters.rates.sandbox import SandboxRatesAdapter
from adapters.tax.avalara import AvalaraTaxAdapter, avatax_client
from adapters.tax.avalara_quotes import AvalaraQuoter
from adapters.tax.port import TaxPort, TaxQuoter
from adapters.tax.sandbox import SandboxTaxAdapter
from adapters.transport import async_client
from settings import ERP_TARGETS, Settings, load_entities
from settings_secrets import Secrets, load_secrets

HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


@dataclass
class Ports:
    crm: CrmPort
    tax: TaxPort
    provisioning: ProvisioningPort
    erps: dict[str, ErpPort]
    # Exchange rates for foreign-currency documents (None: such documents park).
    rates: RatePort | None = None
    payments: PaymentsPort | None = None  # dunning retries; without it they park
    # the billing system told of a ladder's write-off (FlowConfig.close_written_off_upstream)
    billing: BillingPort | None = None


@contextlib.asynccontextmanager
async def configured_ports(settings: Settings,
                        secrets: Secrets | None = None) -> AsyncIterator[Ports]:
    """The adapters the settings name: the sandbox systems at their URLs (with their API
    tokens), or the vendor connectors the settings choose (docs/connectors.md)."""
    secrets = secrets or load_secrets()
    tokens = secrets.api_tokens
    async with contextlib.AsyncExitStack() as stack:
        def client(name: str) -> httpx.AsyncClient:
            headers = ({"Authorization": f"Bearer {tokens[name].get_secret_value()}"}
                       if name in tokens else None)
            c = async_client(settings.sandbox_url(name), timeout=HTTP_TIMEOUT, headers=headers)
            stack.push_async_callback(c.aclose)
            return c

        # one client for the Stripe payments and billing connectors alike
        stripe = (await stack.enter_async_context(stripe_api(settings, secrets))
                  if "stripe" in (settings.payments_connector, settings.billing_connector)
                  else None)
        yield Ports(
            crm=(SandboxCrmAdapter(client("crm")) if settings.crm_connector == "sandbox"
                 else SalesforceCrmAdapter(await stack.enter_async_context(
                     salesforce_api(settings, secrets)), load_entities(settings.entities_file))),
            tax=(SandboxTaxAdapter(client("tax")) if settings.tax_connector == "sandbox"
                 else AvalaraTaxAdapter(await stack.enter_async_context(
                     avatax_api(settings, secrets)), companies=settings.avatax_companies,
                     ship_from=settings.avatax_ship_from)),
            provisioning=(SandboxProvisioningAdapter(client("provisioning"))
                          if settings.provisioning_connector == "sandbox"
                          else await provisioning_webhook(settings, secrets, stack)),
            erps=await erp_targets(settings, secrets, stack, client),
            rates=(SandboxRatesAdapter(client("rates")) if settings.rates_connector == "sandbox"
                   else EcbRatesAdapter(await stack.enter_async_context(ecb_client(
                       base_url=settings.ecb_api_base, timeout=HTTP_TIMEOUT)))),
            payments=(StripePaymentsAdapter(stripe) if settings.payments_connector == "stripe"
                      and stripe is not None else SandboxPaymentsAdapter(client("payments"))),
            billing=(StripeBillingAdapter(stripe) if settings.billing_connector == "stripe"
                     and stripe is not None else None),
        )


async def erp_targets(settings: Settings, secrets: Secrets, stack: contextlib.AsyncExitStack,
                      client: Callable[[str], httpx.AsyncClient]) -> dict[str, ErpPort]:
    """The sandbox ERPs, and the NetSuite target (with its revenue sub-ledger) if set."""
    erps: dict[str, ErpPort] = {
        name: ErpBatcher(SandboxErpAdapter(name, client(name)),
                         max_batch=settings.erp_max_batch, max_rps=settings.erp_max_rps,
                         max_concurrency=settings.erp_max_concurrency)
        for name in ERP_TARGETS}
    if settings.netsuite_account_id is None:
        return erps
    name = settings.netsuite_target
    erps[name] = await netsuite_erp(settings, secrets, stack)
    sub = settings.netsuite_revenue_subledger
    if sub is not None:
        if sub not in ERP_TARGETS:
            raise ValueError(f"CASHLOOP_NETSUITE_REVENUE_SUBLEDGER must name a sandbox ERP "
                             f"target ({', '.join(ERP_TARGETS)}), not {sub!r}")
        erps[f"{name}-revenue"] = RevenueSubledger(f"{name}-revenue", subledger=erps[sub],
                                                   ledger=erps[name])
    return erps


def netsuite_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The NetSuite connector's client, every request signed (TBA)."""
    keys = (secrets.netsuite_consumer_key, secrets.netsuite_consumer_secret,
            secrets.netsuite_token_id, secrets.netsuite_token_secret)
    if settings.netsuite_account_id is None or any(k is None for k in keys):
        raise ValueError("CASHLOOP_NETSUITE_ACCOUNT_ID needs the token-based authentication "
                         "secrets CASHLOOP_NETSUITE_CONSUMER_KEY, _CONSUMER_SECRET, _TOKEN_ID "
                         "and _TOKEN_SECRET")
    ck, cs, tk, ts = (k.get_secret_value() for k in keys if k is not None)
    return netsuite_client(TbaCredentials(settings.netsuite_account_id, ck, cs, tk, ts),
                           base_url=settings.netsuite_api_base, timeout=HTTP_TIMEOUT)


def netsuite_books(settings: Settings) -> NetSuiteBooks:
    """The NetSuite account's ids; a clear error without them."""
    if settings.netsuite_books is None:
        raise ValueError("CASHLOOP_NETSUITE_ACCOUNT_ID needs CASHLOOP_NETSUITE_BOOKS (the "
                         "subsidiary, account and currency ids Cashloop posts to)")
    return settings.netsuite_books


async def netsuite_erp(settings: Settings, secrets: Secrets,
                       stack: contextlib.AsyncExitStack) -> ErpBatcher:
    """The NetSuite ERP target; a clear error at start without its ids or credentials.

    NetSuite governs concurrent requests, not a rate: no pacing per second, and small
    batches (each posting is a request of its own, in a row) so several run side by side.
    """
    books = netsuite_books(settings)
    client = await stack.enter_async_context(netsuite_api(settings, secrets))
    return ErpBatcher(NetSuiteErpAdapter(settings.netsuite_target, client, books),
                      max_batch=settings.netsuite_max_batch, max_rps=None,
                      max_concurrency=settings.erp_max_concurrency)


async def provisioning_webhook(settings: Settings, secrets: Secrets,
                               stack: contextlib.AsyncExitStack) -> WebhookProvisioningAdapter:
    """The provisioning webhook connector; a clear error at start without its endpoint."""
    url, secret = settings.provisioning_webhook_url, secrets.provisioning_webhook_secret
    if url is None or secret is None:
        raise ValueError("CASHLOOP_PROVISIONING_CONNECTOR=webhook needs "
                         "CASHLOOP_PROVISIONING_WEBHOOK_URL and "
                         "CASHLOOP_PROVISIONING_WEBHOOK_SECRET")
    client = await stack.enter_async_context(httpx.AsyncClient(timeout=HTTP_TIMEOUT))
    return WebhookProvisioningAdapter(client, url, secret.get_secret_value())


def salesforce_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The Salesforce CRM connector's client; a clear error at start without its org."""
    cid, secret = secrets.salesforce_client_id, secrets.salesforce_client_secret
    if settings.salesforce_domain is None or cid is None or secret is None:
        raise ValueError("CASHLOOP_CRM_CONNECTOR=salesforce needs CASHLOOP_SALESFORCE_DOMAIN "
                         "(https://{domain}.my.salesforce.com) and the connected app's "
                         "CASHLOOP_SALESFORCE_CLIENT_ID and CASHLOOP_SALESFORCE_CLIENT_SECRET")
    return salesforce_client(settings.salesforce_domain, cid.get_secret_value(),
                             secret.get_secret_value(), timeout=HTTP_TIMEOUT)


def stripe_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The Stripe connectors' client; a clear error at start without its key."""
    if secrets.stripe_api_key is None:
        raise ValueError("CASHLOOP_PAYMENTS_CONNECTOR=stripe (or CASHLOOP_BILLING_CONNECTOR="
                         "stripe) needs CASHLOOP_STRIPE_API_KEY: a Stripe secret or restricted "
                         "key that can read, pay and close invoices and cancel subscriptions")
    return stripe_client(secrets.stripe_api_key.get_secret_value(),
                         base_url=settings.stripe_api_base,
                         version=settings.stripe_api_version or STRIPE_VERSION,
                         timeout=HTTP_TIMEOUT)


def avatax_api(settings: Settings, secrets: Secrets) -> httpx.AsyncClient:
    """The AvaTax connector's client; a clear error at start without its credentials."""
    if settings.avatax_account_id is None or secrets.avatax_license_key is None:
        raise ValueError("CASHLOOP_TAX_CONNECTOR=avalara needs CASHLOOP_AVATAX_ACCOUNT_ID and "
                         "CASHLOOP_AVATAX_LICENSE_KEY")
    return avatax_client(settings.avatax_account_id,
                         secrets.avatax_license_key.get_secret_value(),
                         base_url=settings.avatax_api_base, timeout=HTTP_TIMEOUT)


@dataclass
class ValidationPorts:
    """The gateway's synchronous validation: its CRM and tax quoter, and their clients
    (closed when the gateway stops)."""

    crm: CrmPort
    tax: TaxQuoter
    clients: list[httpx.AsyncClient]


def validation_ports(settings: Settings, secrets: Secrets,
                     timeout: httpx.Timeout | float) -> ValidationPorts:
    """The CRM and tax engine the settings name, for the gateway's validation API."""
    entities = load_entities(settings.entities_file)
    if settings.crm_connector == "salesforce":
        crm_client = salesforce_api(settings, secrets)
        crm: CrmPort = SalesforceCrmAdapter(crm_client, entities)
    else:
        crm_client = async_client(settings.sandbox_url("crm"), timeout=timeout)
        crm = SandboxCrmAdapter(crm_client)
    if settings.tax_connector == "avalara":
        tax_client = avatax_api(settings, secrets)
        tax: TaxQuoter = AvalaraQuoter(tax_client, entities,
                                       companies=settings.avatax_companies,
                                       ship_from=settings.avatax_ship_from)
    else:
        tax_client = async_client(settings.sandbox_url("tax"), timeout=timeout)
        tax = SandboxTaxAdapter(tax_client)
    return ValidationPorts(crm=crm, tax=tax, clients=[crm_client, tax_client])
