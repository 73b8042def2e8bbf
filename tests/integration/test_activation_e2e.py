"""Activation end to end on the real dev server with the sandbox systems over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from canonical.reports import trial_balance
from cli.send import deliver
from cli.status import subscription_views
from devstack import streams
from tests.integration.stack import ENTITIES, Engine, running_engine
from workflows.subscription_state import SubscriptionView


async def settle(engine: Engine, expected: Counter[str]) -> list[SubscriptionView]:
    for _ in range(300):
        views = await subscription_views(engine.client, sorted(expected))
        if len(views) == len(expected) and all(
                v.events_applied >= expected[v.subscription_id] and not v.pending
                and not v.busy and not v.parked for v in views):
            return views
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {views}")


def one_subscription(sub_id: str) -> streams.Lifecycle:
    life = streams.lifecycle(sub_id, streams.customer(f"cus_{sub_id}", "DE"),
                             dt.date(2026, 2, 1))
    life.activate()
    life.invoice(f"in_{sub_id}", life.subscription.term_start, life.subscription.term_end)
    return life


async def test_activation_posts_one_customer_one_invoice_and_a_balanced_journal(
        dev_client: Client, tmp_path: Path) -> None:
    life = one_subscription("sub_e2e_1")
    events = life.events
    async with running_engine(dev_client, tmp_path) as engine:
        await deliver(dev_client, events, engine.config)
        views = await settle(engine, Counter({life.subscription_id: 2}))
        erp = engine.readers["erp-cloud"]  # DE01 routes to the cloud ERP
        before = {d.external_id: d.document_id for d in await erp.documents()}
        entries = await erp.journal_entries()

        await deliver(dev_client, events, engine.config)  # the same events again
        await settle(engine, Counter({life.subscription_id: 2}))
        after = {d.external_id: d.document_id for d in await erp.documents()}
        legacy_docs = await engine.readers["erp-legacy"].documents()
        crm_account = views[0].references["crm"]

    kinds = Counter(k.split(":")[0] for k in before)
    assert kinds == Counter({"cust": 1, "ctr": 1, "inv": 1, "sch": 1})
    assert after == before
    assert legacy_docs == []
    assert crm_account.startswith("CRM-")
    assert [e.external_id for e in entries] == ["inv:in_sub_e2e_1"]
    tb = trial_balance(entries, ENTITIES["DE01"].chart)
    assert tb.balanced
    assert tb.total_debit.amount == views[0].amount_due["EUR"] > 0
