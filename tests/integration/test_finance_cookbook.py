"""Every query of docs/finance-cookbook.md (cli/cookbook.py) answers its question on the
demo scenario, run on the real dev server with the sandbox systems over HTTP.

On top of the demo: the ERP confirms invoices only after an hour (so globex's renewal
waits in AwaitingErpConfirmation), one customer is blocked in the CRM (its activation
parks at validate_customer), and one payment reuses a payment id the ERP already booked
with another body (the ERP refuses it: it fails to apply and parks at apply_payment).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from canonical.money import Money
from cli.cookbook import RECIPES, Found, find
from cli.send import deliver
from cli.status import subscription_views
from devstack import streams
from tests.integration.demo_data import Demo, apply_setup, demo
from tests.integration.stack import Engine, running_engine

LIMIT_S = 240.0


async def answer(engine: Engine, name: str, want: Any, shape: Any = None,
                 **values: str) -> list[Found]:
    """Poll the recipe (visibility is eventually consistent) until `shape(found) == want`."""
    shape = shape or (lambda found: {f.workflow_id for f in found})
    scope = f"TaskQueue = '{engine.config.task_queue}'"
    deadline = asyncio.get_running_loop().time() + LIMIT_S
    while True:
        found = await find(engine.client, name, scope=scope, **values)
        if shape(found) == want or asyncio.get_running_loop().time() > deadline:
            assert shape(found) == want, f"{name}: {shape(found)} != {want}"
            return found
        await asyncio.sleep(0.5)


async def settled(engine: Engine, sub_id: str, events: int) -> None:
    deadline = asyncio.get_running_loop().time() + LIMIT_S
    while True:
        views = await subscription_views(engine.client, [sub_id])
        if views and views[0].events_applied >= events and not views[0].pending and \
                not views[0].busy:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{sub_id} not settled: {views}"
        await asyncio.sleep(0.5)


def extras(d: Demo) -> tuple[streams.Lifecycle, streams.Lifecycle]:
    blocked = streams.lifecycle(f"sub_blocked{d.tag}", streams.customer(
        f"cus_blocked{d.tag}", "US"), dt.date(2026, 1, 1))
    blocked.activate()
    clash = streams.lifecycle(f"sub_clash{d.tag}", streams.customer(f"cus_clash{d.tag}", "US"),
                              dt.date(2026, 2, 1))
    clash.activate()
    inv = clash.invoice(f"in_clash{d.tag}", dt.date(2026, 2, 1), dt.date(2027, 2, 1))
    # acme's payment id again, for another invoice and amount: the ERP refuses it
    clash.pay(d.id("py_{acme}_001"), inv.invoice_id, Money.of("10.00", "USD"),
              dt.date(2026, 2, 3))
    return blocked, clash


async def test_every_cookbook_query_answers_its_question_on_the_demo(
        dev_client: Client, tmp_path: Path) -> None:
    d = demo(tmp_path, uuid.uuid4().hex[:6])
    blocked, clash = extras(d)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    started = dt.datetime.now(dt.UTC)
    async with running_engine(dev_client, tmp_path, **d.setup["flow_config"]) as engine:
        await apply_setup(engine, d.setup, erp={"erp-legacy": {
            "confirm_delay_s": 3600.0, "pending_kinds": ["invoice"]}})
        await engine.crm.update_account(blocked.customer.customer_id, correlation_id="t",
                                        blocked=True)
        await deliver(dev_client, [*d.events, *blocked.events], engine.config)
        await settled(engine, d.id("sub_{acme}_001"), 4)  # its payment is in the ERP
        await deliver(dev_client, clash.events, engine.config)

        sub = d.id
        await answer(engine, "posted-today", {
            *(sub(f"subscription-sub_{{{c}}}_001") for c in (
                "acme", "dupont", "globex", "hooli", "initech", "muller", "tanaka",
                "umbrella")),
            f"subscription-sub_clash{d.tag}",
            sub("renewal-sub_{globex}_001-2026-11-01")}, today=today)

        not_applied = await answer(engine, "payments-not-applied",
                                   {f"subscription-sub_clash{d.tag}"})
        assert not_applied[0].attributes["ParkedReason"] == "erp.rejected"

        await answer(engine, "payments-failed", {
            (sub("dunning-in_{hooli}_001"), "Recovered"),
            (sub("dunning-in_{umbrella}_001"), "WrittenOff")},
            lambda found: {(f.workflow_id, f.attributes.get("O2CState")) for f in found})

        awaiting = await answer(engine, "renewals-awaiting-erp",
                                {sub("renewal-sub_{globex}_001-2026-11-01")})
        assert awaiting[0].attributes["InvoiceIds"] == [sub("sub_{globex}_001-r1")]

        parked = await answer(engine, "parked", {
            (f"activation-sub_blocked{d.tag}", "validate_customer", "crm.rejected"),
            (f"subscription-sub_clash{d.tag}", "apply_payment", "erp.rejected")},
            lambda found: {(f.workflow_id, f.attributes.get("ParkedStep"),
                            f.attributes.get("ParkedReason")) for f in found})
        since = [f.attributes["ParkedSince"] for f in parked]
        assert all(started <= s <= dt.datetime.now(dt.UTC) for s in since)
        await answer(engine, "parked-before", set(), before=started.isoformat())
        await answer(engine, "parked-before", {f.workflow_id for f in parked},
                     before=(max(since) + dt.timedelta(seconds=1)).isoformat())

        # Renewals whose window is still ahead are not workflows yet: the entity holds them
        # (workflows/renewal_window.py), so only globex's, already in its window, is listed.
        # acme's amendment ran inside its subscription's workflow (no amendment- flow).
        await answer(engine, "customer", {sub("subscription-sub_{acme}_001")},
            customer_id=sub("cus_{acme}"))
        await answer(engine, "correlation", {
            sub("subscription-sub_{umbrella}_001"),
            sub("dunning-in_{umbrella}_001"), sub("cancellation-sub_{umbrella}_001")},
            correlation_id=sub("corr_sub_{umbrella}_001"))
        await answer(engine, "invoice", {sub("subscription-sub_{initech}_001")},
                     invoice_id=sub("in_{initech}_002"))


def test_every_recipe_is_run_by_the_cookbook_test() -> None:
    """A new recipe must get an assertion above (this file names every one of them)."""
    text = Path(__file__).read_text()
    assert all(f'"{r.name}"' in text for r in RECIPES)
