"""Stripe webhooks through the gateway to the books: a mid-period upgrade, delivered out of order.

Real gateway (signed webhooks, inbox, forwarder), real dev server, workers and sandbox
systems; the Stripe objects are Stripe's own published shapes (devstack/stripe_events,
from /work/shared/reference/stripe-openapi). Stripe invoices the upgrade at once: its
proration invoice is the rebill and its negative lines the credit memo, so the books must
carry exactly those amounts, while Cashloop ends the old revenue schedule itself.
`customer.subscription.updated` arrives first, before `.created` and the first invoice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client

from canonical.accounts import AccountRole
from canonical.ledger import Side
from canonical.money import Money
from canonical.reports import trial_balance
from devstack import stripe_events as se
from tests.integration.gateway_harness import config, eventually, running_gateway
from tests.integration.stack import ENTITIES, running_engine
from tests.integration.test_flows_e2e import ONE_ERP, deferred_ties, settle
from tests.integration.test_gateway_inbox import pending

CUS, SUB = "cus_R2mGlobexAG01", "sub_1E2eGlobexUpgrade"
IN1, IN2 = "in_1E2eFirst000001", "in_1E2eProration01"
T0 = se.unix(dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC))
T1 = se.unix(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
MID = se.unix(dt.datetime(2026, 2, 15, 9, 0, tzinfo=dt.UTC))  # half of the 28 days
VAT = "txr_1TestVatDE19"
TEAM = se.price("price_1E2eTeamMonth", "prod_E2eTeam", 49000, "eur")
BUSINESS = se.price("price_1E2eBizMonth", "prod_E2eBusiness", 99000, "eur")
DE01 = ENTITIES["DE01"].chart


def stripe_story() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the upgrade's `customer.subscription.updated`, the rest in lifecycle order)."""
    team = se.subscription(SUB, CUS, [("si_E2eTeam", TEAM, 2)], T0, T1, latest_invoice=IN1)
    first = se.invoice_line("il_1E2eFirst", IN1, SUB, 98000, "eur", T0, T1,
                            price_id=TEAM["id"], product="prod_E2eTeam", quantity=2,
                            tax=(18620, 98000, VAT))
    # Stripe's proration at MID: half of the period unused on Team, half on Business.
    unused = se.invoice_line("il_1E2eUnused", IN2, SUB, -49000, "eur", MID, T1,
                             price_id=TEAM["id"], quantity=2, proration=True,
                             tax=(-9310, -49000, VAT), description="Unused time on Team")
    rest = se.invoice_line("il_1E2eRest", IN2, SUB, 99000, "eur", MID, T1,
                           price_id=BUSINESS["id"], quantity=2, proration=True,
                           tax=(18810, 99000, VAT), description="Remaining time on Business")
    business = se.subscription(SUB, CUS, [("si_E2eTeam", BUSINESS, 2)], T0, T1,
                               latest_invoice=IN2)
    updated = se.event("evt_1E2eUpdated", "customer.subscription.updated", MID, business,
                       previous={"items": {"data": [{"price": TEAM}]}, "latest_invoice": IN1})
    story = [
        se.event("evt_1E2eCreated", "customer.subscription.created", T0, team),
        se.event("evt_1E2eFinal1", "invoice.finalized", T0 + 60, se.invoice(
            IN1, CUS, SUB, "eur", [first], status="open",
            billing_reason="subscription_create", finalized_at=T0 + 60)),
        se.event("evt_1E2ePaid1", "invoice.paid", T0 + 120, se.invoice(
            IN1, CUS, SUB, "eur", [first], status="paid", billing_reason="subscription_create",
            finalized_at=T0 + 60, paid_at=T0 + 120, payment_intent="pi_1E2eFirst")),
        se.event("evt_1E2eFinal2", "invoice.finalized", MID + 5, se.invoice(
            IN2, CUS, SUB, "eur", [unused, rest], status="open",
            billing_reason="subscription_update", finalized_at=MID + 5)),
        se.event("evt_1E2ePaid2", "invoice.paid", MID + 60, se.invoice(
            IN2, CUS, SUB, "eur", [unused, rest], status="paid",
            billing_reason="subscription_update", finalized_at=MID + 5, paid_at=MID + 60,
            payment_intent="pi_1E2eProration")),
    ]
    return updated, story


async def test_stripe_upgrade_posts_stripes_documents_and_ends_the_schedule(
        dev_client: Client, tmp_path: Path) -> None:
    updated, story = stripe_story()

    async def connect() -> Client:
        return dev_client

    async with running_engine(dev_client, tmp_path, routing=ONE_ERP,
                              renewals_enabled=False) as engine:
        cfg = config(tmp_path, connect=connect, flow=engine.config, resequence_window_s=0.2)
        async with running_gateway(cfg) as gw:
            assert (await gw.post_stripe(updated)).status_code == 202

            async def drained() -> bool:
                return await asyncio.to_thread(pending, gw.gw.engine) == 0

            await eventually(drained)  # the update reached the entity on its own
            for event in story:
                assert (await gw.post_stripe(event)).status_code == 202
            await eventually(drained)
            [view] = await settle(engine, {SUB: 7})
        erp = engine.readers["erp-legacy"]
        entries = {e.external_id: e for e in await erp.journal_entries("DE01")}
        booked, scheduled = await deferred_ties(erp, "DE01")
    assert view.state == "Active" and not view.findings
    invoices = {i.invoice_id: i for i in view.invoices}
    # Stripe's rebill (990.00 + 188.10 VAT) with its credit (490.00 + 93.10) netted on it,
    # paid 595.00: what the customer was billed, to the cent.
    assert (invoices[IN2].total, invoices[IN2].status) == (Money.of("1178.10", "EUR"), "paid")
    assert invoices[IN1].status == "paid" and view.amount_due == {"EUR": Decimal("0.00")}
    assert f"cm:{IN2}-credit" in entries and f"inv:{IN2}" in entries
    assert not [x for x in entries if x.startswith("inv:") and "~" in x]  # posted once
    # The ended Team schedule released 490.00 (14 of its 28 days), exactly the credit.
    cm = {(ln.account, ln.side): ln.amount for ln in entries[f"cm:{IN2}-credit"].lines}
    assert cm[(DE01.code(AccountRole.DEFERRED_REVENUE), Side.DEBIT)] == Money.of("490.00", "EUR")
    assert booked == scheduled  # deferred revenue ties to the schedules
    tb = trial_balance(list(entries.values()), DE01)
    assert tb.balanced
    ar = next(r.balance for r in tb.rows
              if r.account == DE01.code(AccountRole.ACCOUNTS_RECEIVABLE))
    assert ar.is_zero()
