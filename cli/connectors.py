"""`starter.py connectors check`: reach every vendor the settings name and check its setup.

Each configured connector gets a harmless authenticated read, and the setup Cashloop
depends on is compared with what the vendor has (NetSuite's account numbers behind the
configured ids, Salesforce's custom fields), so a wrong key or mapping shows before the
first posting parks on it. Exit status 1 when something is wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from adapters.crm.salesforce import check_salesforce
from adapters.erp.netsuite_check import check_netsuite
from adapters.payments.stripe import check_stripe
from adapters.rates.ecb import check_ecb, ecb_client
from adapters.tax.avalara import check_avatax
from ports import avatax_api, netsuite_api, salesforce_api, stripe_api
from settings import Settings
from settings_secrets import Secrets, load_secrets


def register(sub: Any) -> None:
    p = sub.add_parser("connectors", help="the vendor connectors the settings name")
    csub = p.add_subparsers(dest="connectors_command", required=True)
    check = csub.add_parser("check", help="reach each configured vendor, check its setup")
    check.set_defaults(func=check_command)


async def check_all(settings: Settings, secrets: Secrets, *, today: dt.date | None = None
                    ) -> list[tuple[str, list[str]]]:
    """(connector, problems) for every configured vendor; ValueError for missing settings."""
    results: list[tuple[str, list[str]]] = []
    if "stripe" in (settings.payments_connector, settings.billing_connector):
        async with stripe_api(settings, secrets) as client:
            results.append(("stripe", await check_stripe(client)))
    if settings.tax_connector == "avalara":
        async with avatax_api(settings, secrets) as client:
            results.append(("avatax", await check_avatax(client)))
    if settings.netsuite_account_id is not None:
        if settings.netsuite_books is None:
            raise ValueError("CASHLOOP_NETSUITE_ACCOUNT_ID needs CASHLOOP_NETSUITE_BOOKS")
        async with netsuite_api(settings, secrets) as client:
            results.append(("netsuite", await check_netsuite(client, settings.netsuite_books)))
    if settings.crm_connector == "salesforce":
        async with salesforce_api(settings, secrets) as client:
            results.append(("salesforce", await check_salesforce(client)))
    if settings.rates_connector == "ecb":
        async with ecb_client(base_url=settings.ecb_api_base) as client:
            results.append(("ecb", await check_ecb(
                client, today or dt.datetime.now(dt.UTC).date())))
    return results


async def check_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        results = await check_all(settings, load_secrets())
    except ValueError as exc:
        print(exc)
        return 2
    if settings.provisioning_connector == "webhook":
        print("provisioning webhook: not checked (the product's endpoint only takes changes)")
    if not results:
        print("no vendor connector to check: the sandboxes are in use")
    for name, problems in results:
        print(f"{name}: ok" if not problems else "\n".join(problems))
    return 1 if any(problems for _, problems in results) else 0
