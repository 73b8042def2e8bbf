"""A partner's settlement report through the gateway to the books: two invoices the partner
collected, paid out less its fee in one deposit. Real gateway, dev server, workers and
sandbox ERP over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client

from canonical.accounts import AccountRole
from canonical.reports import trial_balance
from cli.send import deliver
from tests.integration.gateway_harness import config, eventually, running_gateway
from tests.integration.stack import ENTITIES, running_engine
from tests.integration.test_flows_e2e import ONE_ERP, gross, life, settle
from tests.integration.test_gateway_inbox import pending

PARTNER_KEY = "partner-key"
US01 = ENTITIES["US01"].chart


def report(settlement_id: str, net: str, *subs: str) -> dict[str, Any]:
    return {"settlement_id": settlement_id, "partner": "marketplace", "legal_entity": "US01",
            "currency": "USD", "settled_on": "2026-01-31", "net_amount": net,
            "lines": [{"invoice_id": f"in_{s}", "subscription_id": s, "customer_id": f"cus_{s}",
                       "gross": str(gross("1200.00").amount), "fee": "128.70"} for s in subs]}


async def test_a_settlement_clears_each_invoice_and_leaves_the_deposit_in_cash_clearing(
        dev_client: Client, tmp_path: Path) -> None:
    subs = ("sub_ps_a", "sub_ps_b")
    deposit = 2 * (gross("1200.00").amount - Decimal("128.70"))

    async def connect() -> Client:
        return dev_client

    async with running_engine(dev_client, tmp_path, routing=ONE_ERP,
                              renewals_enabled=False) as engine:
        await deliver(dev_client, [e for s in subs for e in life(s).events], engine.config)
        await settle(engine, {s: 2 for s in subs})
        cfg = config(tmp_path, connect=connect, flow=engine.config)
        cfg = dataclasses.replace(cfg, api_keys={**cfg.api_keys, "marketplace": PARTNER_KEY})
        async with running_gateway(cfg) as gw:
            async def post(body: dict[str, Any], key: str = PARTNER_KEY) -> Any:
                return await gw.http.post("/v1/settlements", json=body,
                                          headers={"X-API-Key": key})

            unbalanced = await post(report("st_bad", str(deposit + 1), *subs))
            foreign = await post(report("st_ok", str(deposit), *subs), key="test-key")
            accepted = await post(report("st_ok", str(deposit), *subs))
            again = await post(report("st_ok", str(deposit), *subs))

            async def drained() -> bool:
                return await asyncio.to_thread(pending, gw.gw.engine) == 0

            await eventually(drained)
            views = await settle(engine, {s: 3 for s in subs})
        entries = await engine.readers["erp-legacy"].journal_entries("US01")
    assert unbalanced.status_code == 422 and unbalanced.json()["dead_letter_ids"]
    assert unbalanced.json()["errors"][0]["type"] == "settlement_unbalanced"
    assert foreign.status_code == 422  # the billing system's key cannot send the partner's
    assert foreign.json()["errors"][0]["type"] == "partner_mismatch"
    assert accepted.status_code == 202 and len(accepted.json()["payments"]) == 2
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert all(v.amount_due == {"USD": Decimal("0.00")} for v in views)
    net = {r.account: r.balance.amount for r in trial_balance(entries, US01).rows}
    assert net[US01.code(AccountRole.CASH_CLEARING)] == deposit  # the deposit, to the cent
    assert net[US01.code(AccountRole.PAYMENT_FEES)] == Decimal("257.40")
    assert net[US01.code(AccountRole.ACCOUNTS_RECEIVABLE)] == 0
    assert sorted(e.external_id for e in entries if e.source_type == "payment") == [
        "pay:marketplace:st_ok:in_sub_ps_a", "pay:marketplace:st_ok:in_sub_ps_b"]
