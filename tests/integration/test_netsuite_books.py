"""An entity whose books are in NetSuite: receivables posted there, revenue schedules in the
sandbox ERP over HTTP as its sub-ledger, and a period close that recognises into both —
NetSuite's deferred revenue then ties to the sub-ledger's open schedule periods, and the
ledger reports read those books back from NetSuite with each journal once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import netsuite_client
from adapters.erp.netsuite_ledger import read_journals
from adapters.erp.revenue_subledger import RevenueSubledger
from adapters.erp.routing import Domain, RoutingTable
from canonical.reports import deferred_balance, deferred_rollforward, trial_balance
from cli.close import run_close
from cli.ledger import of_record, schedule_deferral
from tests.sandbox_harness import erp_sandbox, sqlite_stores
from tests.unit.flows_harness import (
    ENTITIES,
    World,
    annual,
    fresh_ts_env,
    quiet,
    running,
    send,
    until,
)
from tests.unit.netsuite_api_fake import CREDENTIALS
from tests.unit.test_netsuite_erp import books, fake_netsuite, usd
from workflows.period_close import PeriodCloseInput

ROUTING = RoutingTable(default="erp-fake", entities={"US01": {
    Domain.CUSTOMER_MASTER: "netsuite", Domain.RECEIVABLES: "netsuite",
    Domain.REVENUE: "netsuite-revenue"}})


async def test_netsuites_deferred_revenue_ties_to_the_subledgers_schedules(
        tmp_path: Path) -> None:
    netsuite = fake_netsuite()
    life = annual("sub_nsb")
    (inv,) = [e.payload.invoice for e in life.events if e.event_type == "invoice.issued"]
    life.pay("py_nsb", inv.invoice_id, usd("1320.00"), dt.date(2026, 1, 20))
    async with erp_sandbox(sqlite_stores(tmp_path), name="erp-cloud") as cloud, \
            fresh_ts_env() as env, \
            netsuite_client(CREDENTIALS, transport=netsuite.transport()) as client:
        ns = NetSuiteErpAdapter("netsuite", client, books())
        world = World(routing=ROUTING, erps={"netsuite": ns, "netsuite-revenue": RevenueSubledger(
            "netsuite-revenue", subledger=cloud.adapter, ledger=ns)})
        async with running(env.client, "tq-ns-books", world) as config:
            handle = await send(env.client, config, life.events)
            await until(handle, quiet(3))
            closes = [await run_close(env.client, PeriodCloseInput(
                period=period, legal_entities=["US01"], lock=False, config=config))
                for period in ("2026-01", "2026-02")]
        (schedule,) = await cloud.reader.schedules("US01")
        copies = await cloud.reader.journal_entries("US01")
        read_back = (await read_journals(client, books(), {"US01": "USD"},
                                         correlation_id="read")).entries
    assert [c.entities[0].recognised for c in closes] == [1, 1]
    still_open = sum(p.amount.amount for p in schedule.periods if p.status == "open")
    recognised = sum(p.amount.amount for p in schedule.periods if p.status == "recognised")
    assert recognised > 0 and still_open + recognised == Decimal("1200.00")
    balances = netsuite.balances()
    assert balances["2400"] == -still_open  # deferred revenue ties to the schedules
    assert balances["4000"] == -recognised
    assert (balances["1200"], balances["1010"]) == (Decimal(0), Decimal("1320.00"))
    assert not world.erp.documents  # nothing of US01 fell to the default target
    entries = of_record(copies, read_back)
    assert {e.source_type for e in copies} == {"recognition"}
    assert len(entries) == len(read_back) == len({e.external_id for e in entries})
    chart = ENTITIES["US01"].chart
    assert trial_balance(entries, chart).balanced
    assert deferred_balance(entries, chart) == schedule_deferral(
        [schedule], ENTITIES["US01"]) == usd(str(still_open))
    assert deferred_rollforward(entries, chart, "2026-02").ties
