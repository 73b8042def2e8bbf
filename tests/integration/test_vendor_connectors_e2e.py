"""Every vendor connector at once, composed by the worker from settings, over real HTTP.

The real dev server and the sandbox services, and the vendors' stand-ins served over
sockets (tests/vendor_standins.py): NetSuite holds US01's customers and receivables (a
sandbox ERP its revenue schedules), AvaTax taxes the invoices, the ECB rates the EUR one,
Salesforce validates and takes notices, the product takes entitlement webhooks, Stripe
collects the dunning retries and is told of the write-off. `ports.configured_ports`
builds every client from the settings, as `python worker.py` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from adapters.erp.routing import Domain, RoutingTable
from adapters.erp.sandbox import SandboxErpReader
from adapters.transport import async_client
from canonical.billing import BillingReason
from canonical.ledger import Side
from canonical.money import Money
from canonical.reports import trial_balance
from cli.ledger import export_text, fetch_entries, netsuite_journals, netsuite_links
from cli.send import deliver
from cli.status import subscription_views
from devstack import streams
from ports import configured_ports
from settings import ERP_TARGETS, PROJECT_ROOT, Settings, load_recognition_methods
from settings_secrets import Secrets
from tests.integration.stack import ENTITIES, SANDBOXES
from tests.integration.test_period_close_e2e import hledger
from tests.sandbox_harness import sqlite_stores
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.unit.ecb_api_fake import FakeEcb
from tests.unit.flows_harness import fail_payment
from tests.unit.netsuite_api_fake import CREDENTIALS
from tests.unit.provisioning_webhook_fake import SECRET, FakeProduct
from tests.unit.salesforce_api_fake import CLIENT_ID, CLIENT_SECRET, FakeSalesforce
from tests.unit.stripe_api_fake import API_KEY, FakeStripe
from tests.unit.test_netsuite_erp import books, fake_netsuite
from tests.vendor_standins import serving
from worker import build_workers
from workflows.config import CODE_VERSION, FlowConfig

START = dt.date(2026, 1, 9)  # a Friday the ECB stand-in has a rate for
ROUTING = RoutingTable(default="erp-legacy", entities={"US01": {
    Domain.CUSTOMER_MASTER: "netsuite", Domain.RECEIVABLES: "netsuite",
    Domain.REVENUE: "netsuite-revenue"}})


def lifecycle(sub_id: str, currency: str = "USD", price: str = "1200.00") -> streams.Lifecycle:
    cust = streams.customer(f"cus_{sub_id}", "US").model_copy(update={"currency": currency})
    life = streams.lifecycle(sub_id, cust, START,
                             [(streams.plan("pro-annual", currency, price), 1)])
    life.activate()
    life.invoice(f"in_{sub_id}", START, life.subscription.term_end,
                 BillingReason.SUBSCRIPTION_CREATE)
    return life


def journal(netsuite: Any, external_id: str) -> dict[str, Any]:
    from adapters.erp.netsuite_records import ns_external_id

    found = netsuite.by_external_id("journalEntry", ns_external_id(external_id))
    assert found is not None, f"NetSuite has no journal {external_id}"
    return dict(found)


def side(je: dict[str, Any], account_id: str, key: str) -> Decimal:
    return sum((ln.get(key, Decimal(0)) for ln in je["line"]["items"]
                if ln["account"]["id"] == account_id), Decimal(0))


async def settled(client: Client, wanted: dict[str, Any]) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 180
    while True:
        views = {v.subscription_id: v for v in await subscription_views(client, wanted)}
        if len(views) == len(wanted) and all(
                done(views[s]) for s, done in wanted.items()):
            return views
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not settled: {views}")
        await asyncio.sleep(0.25)


async def test_every_vendor_connector_through_the_worker_over_http(
        dev_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netsuite, stripe, avatax = fake_netsuite(), FakeStripe(), FakeAvaTax()
    org, product, ecb = FakeSalesforce(), FakeProduct(), FakeEcb()
    paid, eur, dunned = lifecycle("sub_va"), lifecycle("sub_vb", "EUR", "1000.00"), \
        lifecycle("sub_vc")
    paid.pay("py_sub_va", "in_sub_va", Money.of("1306.50", "USD"), dt.date(2026, 1, 12))
    fail_payment(dunned, "in_sub_vc", Money.of("1306.50", "USD"), dt.date(2026, 1, 10))
    stripe.invoice("in_sub_vc", 130650, subscription="sub_vc")
    stripe.subscription("sub_vc")
    stripe.declines["in_sub_vc"] = 99
    handlers = {"netsuite": netsuite._handle, "stripe": stripe._handle,
                "avatax": avatax._handle, "salesforce": org._handle,
                "product": product._handle, "ecb": ecb._handle}
    from adapters.sandbox.serve import running_sandboxes

    async with running_sandboxes(SANDBOXES, sqlite_stores(tmp_path), ENTITIES) as urls, \
            serving(handlers) as vendor:
        settings = Settings(
            sandbox_urls=urls, netsuite_account_id=CREDENTIALS.account_id,
            netsuite_api_base=vendor["netsuite"], netsuite_books=books(),
            netsuite_revenue_subledger="erp-cloud",
            payments_connector="stripe", billing_connector="stripe",
            stripe_api_base=vendor["stripe"], tax_connector="avalara",
            avatax_api_base=vendor["avatax"], avatax_account_id=ACCOUNT,
            crm_connector="salesforce", salesforce_domain=vendor["salesforce"],
            provisioning_connector="webhook",
            provisioning_webhook_url=f"{vendor['product']}/cashloop/entitlements",
            rates_connector="ecb", ecb_api_base=vendor["ecb"])
        secrets = Secrets(
            stripe_api_key=SecretStr(API_KEY), avatax_license_key=SecretStr(LICENSE),
            salesforce_client_id=SecretStr(CLIENT_ID),
            salesforce_client_secret=SecretStr(CLIENT_SECRET),
            provisioning_webhook_secret=SecretStr(SECRET),
            netsuite_consumer_key=SecretStr(CREDENTIALS.consumer_key),
            netsuite_consumer_secret=SecretStr(CREDENTIALS.consumer_secret),
            netsuite_token_id=SecretStr(CREDENTIALS.token_id),
            netsuite_token_secret=SecretStr(CREDENTIALS.token_secret))
        queue = f"it-vendors-{uuid.uuid4().hex[:8]}"
        config = FlowConfig(code_version=CODE_VERSION, task_queue=queue,
                            erp_task_queue=f"{queue}-erp", renewals_enabled=False,
                            activity_initial_interval_s=0.2, day_seconds=0.5,
                            close_written_off_upstream=True)
        async with configured_ports(settings, secrets) as ports:
            workers = build_workers(
                dev_client, ports, routing=ROUTING, entities=ENTITIES,
                recognition=load_recognition_methods(PROJECT_ROOT / "config" / "plans.toml"),
                task_queue=queue, erp_task_queue=f"{queue}-erp")
            async with workers[0], workers[1]:
                events = [*paid.events, *eur.events, *dunned.events]
                await deliver(dev_client, events, config)
                views = await settled(dev_client, {
                    "sub_va": lambda v: v.events_applied >= 3 and not v.busy,
                    "sub_vb": lambda v: v.events_applied >= 2 and not v.busy,
                    "sub_vc": lambda v: v.state == "Cancelled" and not v.children
                    and not v.busy})
        async with async_client(urls["erp-cloud"], timeout=10) as c:
            schedules = await SandboxErpReader(c).schedules("US01")
        # the ledger commands read NetSuite's books back, beside the sandboxes'
        for name, value in secrets.model_dump().items():
            if name.startswith("netsuite_"):
                monkeypatch.setenv(f"CASHLOOP_{name.upper()}", value.get_secret_value())
        entries = await fetch_entries(settings)
        invoice_of, due = netsuite_links(await netsuite_journals(settings))
        legacy_docs = []
        for name in ERP_TARGETS:
            async with async_client(urls[name], timeout=10) as c:
                legacy_docs += [d.external_id for d in await SandboxErpReader(c).documents()
                                if d.kind != "schedule"]

    assert not any(v.parked for v in views.values())
    ar, tax = "91200", "92200"  # NetSuite ids of US01's receivable and sales tax accounts
    # AvaTax taxed the invoices (8.875 % in San Francisco); NetSuite holds their journals
    invoice = journal(netsuite, "inv:in_sub_va")
    assert (side(invoice, ar, "debit"), side(invoice, tax, "credit")) == (
        Decimal("1306.50"), Decimal("106.50"))
    assert side(journal(netsuite, "pay:py_sub_va"), ar, "credit") == Decimal("1306.50")
    assert {("US01", f"in_{s}") for s in ("sub_va", "sub_vb", "sub_vc")} <= set(
        avatax.transactions)
    # the EUR invoice of the USD entity at the ECB's rate of its day
    eur_invoice = journal(netsuite, "inv:in_sub_vb")
    assert (eur_invoice["currency"], eur_invoice["exchangeRate"]) == ({"id": "4"},
                                                                       Decimal("1.1642"))
    assert ecb.requests
    # the ladder: three declines through Stripe, cancellation credit and write-off in
    # NetSuite, Stripe told, entitlements revoked through the product's webhook
    assert stripe.invoices["in_sub_vc"]["attempt_count"] == 3
    assert (stripe.invoices["in_sub_vc"]["status"],
            stripe.subscriptions["sub_vc"]["status"]) == ("uncollectible", "canceled")
    relieved = (side(journal(netsuite, "cm:sub_vc-cancel"), ar, "credit")
                + side(journal(netsuite, "wo:in_sub_vc"), ar, "credit"))
    assert relieved == Decimal("1306.50")
    assert product.entitlements["sub_va"]["status"] == "granted"
    assert product.entitlements["sub_vc"]["status"] == "revoked"
    # Salesforce: the three accounts, the ladder's notices as tasks
    assert {a["Cashloop_Customer_Id__c"] for a in org.records["Account"].values()} == {
        "cus_sub_va", "cus_sub_vb", "cus_sub_vc"}
    assert any("dunning_written_off" in t["Subject"] for t in org.records["Task"].values())
    # the revenue schedules in the sub-ledger; nothing of US01 in the sandbox ERPs' books
    assert {s.subscription_id for s in schedules} == {"sub_va", "sub_vb", "sub_vc"}
    assert not [d for d in legacy_docs if not d.startswith("sch")]
    us01 = [e for e in entries if e.legal_entity == "US01"]
    assert {"inv:in_sub_va", "pay:py_sub_va", "cm:sub_vc-cancel", "wo:in_sub_vc"} <= {
        e.external_id for e in us01}
    assert len(us01) == len({e.external_id for e in us01})
    (eur_entry,) = [e for e in us01 if e.external_id == "inv:in_sub_vb"]
    assert (eur_entry.currency, eur_entry.rate) == ("EUR", Decimal("1.1642"))
    chart = ENTITIES["US01"].chart
    receivable = sum((ln.amount.amount * (1 if ln.side == Side.DEBIT else -1)
                      for e in us01 if e.currency == "USD" for ln in e.lines
                      if ln.account == "1200"), Decimal(0))
    assert receivable == 0  # sub_va paid, sub_vc credited and written off
    assert trial_balance(us01, chart).balanced
    assert set(due) == {"in_sub_va", "in_sub_vb", "in_sub_vc"}  # the aging's due dates
    assert (invoice_of["pay:py_sub_va"], invoice_of["wo:in_sub_vc"]) == ("in_sub_va",
                                                                        "in_sub_vc")
    if shutil.which("hledger"):
        journal_file = tmp_path / "netsuite.journal"
        journal_file.write_text(export_text(us01, ENTITIES, "hledger", "US01"))
        hledger("-f", str(journal_file), "check")
