"""Period close and the exported ledger end to end: the demo scenario plus a EUR customer of
the USD entity, on the real dev server with the sandbox systems over HTTP; US01 is split
across the two ERPs (receivables on erp-legacy, revenue on erp-cloud)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client

from adapters.sandbox.tax_service import line_tax, rate_for
from canonical.accounts import AccountRole
from canonical.events import Event
from canonical.fx import convert
from canonical.ledger import JournalEntry
from canonical.money import Money, total
from canonical.reports import deferred_balance, deferred_rollforward, trial_balance
from cli.close import run_close
from cli.ledger import export_text, schedule_deferral
from cli.send import deliver, read_events
from cli.status import subscription_views
from devstack import streams
from settings import PROJECT_ROOT
from tests.integration.stack import ENTITIES, Engine, running_engine
from workflows.period_close import PeriodCloseInput
from workflows.subscription import SubscriptionWorkflow

SETTLE_S = 180.0


async def settle(engine: Engine, expected: Counter[str]) -> None:
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while True:
        views = await subscription_views(engine.client, sorted(expected))
        if len(views) == len(expected) and all(
                v.events_applied >= expected[v.subscription_id] and not v.pending
                and not v.busy and not v.parked for v in views):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not settled: {views}")
        await asyncio.sleep(0.25)


def eur_customer_of_us01(sub_id: str, start: dt.date, paid_on: dt.date) -> streams.Lifecycle:
    """A US customer billed in EUR by the USD entity, paid in full on `paid_on`."""
    cust = streams.customer(f"cus_{sub_id}", "US").model_copy(update={"currency": "EUR"})
    life = streams.lifecycle(sub_id, cust, start,
                             [(streams.plan("pro-annual", "EUR", "1000.00"), 1)])
    life.activate()
    inv = life.invoice(f"in_{sub_id}", start, life.subscription.term_end)
    rate, _, _ = rate_for("US", cust.bill_to.address.region)
    gross = inv.subtotal + total((line_tax(ln.amount, rate) for ln in inv.lines), "EUR")
    life.pay(f"py_{sub_id}", inv.invoice_id, gross, paid_on)
    return life


async def all_entries(engine: Engine) -> list[JournalEntry]:
    return [e for r in engine.readers.values() for e in await r.journal_entries()]


def hledger(*args: str) -> str:
    done = subprocess.run(["hledger", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def hledger_balances(path: Path) -> dict[str, Money]:
    """`hledger bal -B` per account (at cost: each entity's functional currency)."""
    out = hledger("-f", str(path), "bal", "-B", "--flat", "-N", "-O", "csv")
    result = {}
    for row in out.strip().splitlines()[1:]:
        account, amount = (cell.strip('"') for cell in row.split('","'))
        value, currency = amount.replace(",", "").split(" ")
        parts = account.split(":")  # assets:US01:receivables:1200
        result[f"{parts[-1]}:{parts[1]}"] = Money(
            amount=Decimal(value), currency=currency)
    return result


@pytest.mark.skipif(shutil.which("hledger") is None and os.environ.get("CI") != "true",
                    reason="hledger (Debian package) missing; `make test` installs it")
async def test_close_recognises_locks_flags_late_postings_and_exports_a_checked_ledger(
        dev_client: Client, tmp_path: Path) -> None:
    demo, problems = read_events(PROJECT_ROOT / "examples" / "demo.jsonl")
    assert not problems
    eur = eur_customer_of_us01("sub_eur_1", dt.date(2026, 1, 15), dt.date(2026, 2, 5))
    late = eur_customer_of_us01("sub_eur_late", dt.date(2026, 1, 10), dt.date(2026, 1, 25))
    first: list[Event] = [*demo, *eur.events]
    async with running_engine(dev_client, tmp_path) as engine:
        await deliver(dev_client, first, engine.config)
        await settle(engine, Counter(e.subscription_id for e in first))
        entities = sorted(ENTITIES)

        def close(period: str) -> PeriodCloseInput:
            return PeriodCloseInput(period=period, legal_entities=entities,
                                    config=engine.config)

        # what the close must recognise: every open US01 period up to January (the demo's
        # subscriptions that started before 2026 are caught up from their first month)
        due = {f"rev:{s.schedule_id}:{p.period}" for r in engine.readers.values()
               for s in await r.schedules("US01") for p in s.periods
               if p.period <= "2026-01" and p.status == "open"}
        january = await run_close(dev_client, close("2026-01"))
        us = next(e for e in january.entities if e.legal_entity == "US01")
        assert (us.recognised, us.moved) == (len(due), {})
        assert sorted(us.locked_in) == ["erp-cloud", "erp-legacy"]  # US01 is split
        cloud = [e for e in await engine.readers["erp-cloud"].journal_entries()
                 if e.source_type == "recognition"]
        assert {e.external_id for e in cloud} == due
        # acme (12,000.00 USD from 15 January) and the EUR customer among them
        assert {"rev:in_acme_001:in_acme_001-1:2026-01",
                "rev:in_sub_eur_1:in_sub_eur_1-1:2026-01"} <= due
        eur_rev = next(e for e in cloud if "sub_eur_1" in e.external_id)
        assert (eur_rev.currency, eur_rev.functional_currency, eur_rev.rate) == (
            "EUR", "USD", Decimal("1.1000"))

        again = await run_close(dev_client, close("2026-01"))
        assert all(e.recognised == 0 for e in again.entities)  # nothing posts twice

        # documents dated in the locked January arrive late: booked in February, flagged
        await deliver(dev_client, late.events, engine.config)
        await settle(engine, Counter(e.subscription_id for e in late.events))
        audit = await dev_client.get_workflow_handle("subscription-sub_eur_late").query(
            SubscriptionWorkflow.audit_trail)
        assert sum("FLAG" in r.note and "2026-02" in r.note for r in audit) >= 2
        catch_up = await run_close(dev_client, close("2026-01"))
        us = next(e for e in catch_up.entities if e.legal_entity == "US01")
        assert us.recognised == 1
        assert us.moved == {"rev:in_sub_eur_late:in_sub_eur_late-1:2026-01": "2026-02"}
        await run_close(dev_client, close("2026-02"))

        entries = await all_entries(engine)
        schedules = [s for r in engine.readers.values() for s in await r.schedules()]

    pay = next(e for e in entries if e.external_id == "pay:py_sub_eur_1")
    fx = ENTITIES["US01"].chart.code(AccountRole.FX_GAIN_LOSS)
    gain = next(ln for ln in pay.lines if ln.account == fx)  # paid at 1.12, booked at 1.10
    ar = next(ln for ln in pay.lines
              if ln.account == ENTITIES["US01"].chart.code(AccountRole.ACCOUNTS_RECEIVABLE))
    assert ar.functional_amount == convert(ar.amount, Decimal("1.1000"), "USD")
    assert gain.side == "credit" and gain.functional_amount is not None
    # the cash at 1.12 less the receivable at 1.10: 0.02 USD per EUR, rounded once each
    assert gain.functional_amount.amount == (
        convert(ar.amount, Decimal("1.1200"), "USD").amount - ar.functional_amount.amount)

    for entity in ENTITIES.values():
        for period in ("2026-01", "2026-02", "2026-03"):
            assert deferred_rollforward(entries, entity.chart, period).ties
        assert deferred_balance(entries, entity.chart) == schedule_deferral(schedules, entity)

    await asyncio.to_thread(check_exports, entries, tmp_path)


def check_exports(entries: list[JournalEntry], tmp_path: Path) -> None:
    """hledger check (strict), bean-check, and hledger's balances equal our trial balance."""
    journal = tmp_path / "ledger.journal"
    journal.write_text(export_text(entries, ENTITIES, "hledger"))
    hledger("-f", str(journal), "check", "-s", "ordereddates")
    beancount = tmp_path / "ledger.beancount"
    beancount.write_text(export_text(entries, ENTITIES, "beancount"))
    bean_check = shutil.which("bean-check") or str(Path(sys.executable).with_name("bean-check"))
    done = subprocess.run([bean_check, str(beancount)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    balances = hledger_balances(journal)
    for code, entity in ENTITIES.items():
        tb = {row.account: row.balance for row in trial_balance(entries, entity.chart).rows}
        for role in (AccountRole.ACCOUNTS_RECEIVABLE, AccountRole.DEFERRED_REVENUE,
                     AccountRole.SUBSCRIPTION_REVENUE, AccountRole.USAGE_REVENUE):
            account = entity.chart.code(role)
            ours = tb.get(account, Money.zero(entity.chart.functional_currency))
            theirs = balances.get(f"{account}:{code}",
                                  Money.zero(entity.chart.functional_currency))
            assert theirs == ours, (code, role)
