"""The revenue domain beside NetSuite: schedules in a sub-ledger, their journals in NetSuite."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import netsuite_client
from adapters.erp.netsuite_records import ns_external_id
from adapters.erp.port import JournalPosting, SchedulePosting
from adapters.erp.revenue_subledger import RevenueSubledger
from adapters.erp.routing import Domain, ErpRouter, RoutingTable
from canonical.errors import InvalidDataError
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.schedules import schedules_for_invoice
from ports import configured_ports
from settings import Settings
from tests.unit.fakes import FakeErp
from tests.unit.flows_harness import World, annual, fresh_ts_env, quiet, running, send, until
from tests.unit.netsuite_api_fake import CREDENTIALS, FakeNetSuite
from tests.unit.test_netsuite_erp import SECRETS, books, fake_netsuite, usd

CID = "corr-rev"


@pytest.fixture
def netsuite() -> FakeNetSuite:
    return fake_netsuite()


@pytest.fixture
async def revenue(netsuite: FakeNetSuite) -> AsyncIterator[tuple[RevenueSubledger, FakeErp]]:
    async with netsuite_client(CREDENTIALS, transport=netsuite.transport()) as client:
        sub = FakeErp("erp-cloud")
        yield RevenueSubledger("netsuite-revenue", subledger=sub,
                               ledger=NetSuiteErpAdapter("netsuite", client, books())), sub


def recognition(period: str = "2026-01") -> JournalPosting:
    entry = JournalEntry(
        external_id=f"rec:sch_1:{period}", legal_entity="US01",
        posting_date=dt.date.fromisoformat(f"{period}-28"), currency="USD",
        source_type="recognition", source_id="sch_1", memo=f"Revenue {period}",
        lines=[JournalLine(account="2400", side=Side.DEBIT, amount=usd("100.00")),
               JournalLine(account="4000", side=Side.CREDIT, amount=usd("100.00"))])
    return JournalPosting(external_id=entry.external_id, entry=entry)


def schedule() -> SchedulePosting:
    (inv,) = [e.payload.invoice for e in annual("sub_rv").events
              if e.event_type == "invoice.issued"]
    (sched,) = schedules_for_invoice(inv)
    return SchedulePosting(external_id=f"sch:{sched.schedule_id}", schedule=sched)


async def test_schedules_stay_in_the_subledger_and_their_journals_reach_netsuite(
        revenue: tuple[RevenueSubledger, FakeErp], netsuite: FakeNetSuite) -> None:
    target, sub = revenue
    sch, rec = schedule(), recognition()
    receipts = await target.post([sch, rec], correlation_id=CID)
    assert set(sub.documents) == {sch.external_id, rec.external_id}
    (je,) = netsuite.records["journalEntry"].values()
    assert je["externalId"] == ns_external_id(rec.external_id)
    assert netsuite.balances() == {"2400": Decimal("100.00"), "4000": Decimal("-100.00")}
    assert receipts[1].note is not None and receipts[1].note.startswith(
        "booked in netsuite as journalEntry/")
    again = await target.post([rec], correlation_id=CID)  # a retry books nothing twice
    assert again[0].duplicate and len(netsuite.records["journalEntry"]) == 1


async def test_a_reversal_reaches_netsuite_only_for_what_it_holds(
        revenue: tuple[RevenueSubledger, FakeErp], netsuite: FakeNetSuite) -> None:
    target, sub = revenue
    sch, rec = schedule(), recognition()
    await target.post([sch, rec], correlation_id=CID)
    await target.reverse(rec.external_id, reversal_external_id=f"rev:{rec.external_id}",
                         reason="re-run", correlation_id=CID)
    await target.reverse(sch.external_id, reversal_external_id=f"rev:{sch.external_id}",
                         reason="void", correlation_id=CID)
    assert set(sub.reversals) == {f"rev:{rec.external_id}", f"rev:{sch.external_id}"}
    assert len(netsuite.records["journalEntry"]) == 2  # the recognition and its mirror
    assert netsuite.balances() == {"2400": 0, "4000": 0}


async def test_a_period_locks_in_the_subledger_once_netsuite_has_it_locked(
        revenue: tuple[RevenueSubledger, FakeErp], netsuite: FakeNetSuite) -> None:
    target, sub = revenue
    with pytest.raises(InvalidDataError, match="2026-01 is open in NetSuite"):
        await target.lock_period("US01", "2026-01", correlation_id=CID)
    assert not sub.locks
    netsuite.lock("2026-01", "alllocked")
    await target.lock_period("US01", "2026-01", correlation_id=CID)
    assert sub.locks == {("US01", "2026-01")}


async def test_the_worker_adds_the_revenue_target_beside_netsuite() -> None:
    settings = Settings(netsuite_account_id=CREDENTIALS.account_id, netsuite_books=books(),
                        netsuite_revenue_subledger="erp-cloud")
    async with configured_ports(settings, SECRETS) as ports:
        erps = ports.erps
        ErpRouter(RoutingTable(default="erp-legacy", entities={"US01": {
            Domain.CUSTOMER_MASTER: "netsuite", Domain.RECEIVABLES: "netsuite",
            Domain.REVENUE: "netsuite-revenue"}}), erps)
        with pytest.raises(ValueError, match="sends US01 receivables to netsuite-revenue"):
            ErpRouter(RoutingTable(default="erp-legacy", entities={"US01": {
                Domain.RECEIVABLES: "netsuite-revenue"}}), erps)
    with pytest.raises(ValueError, match="must name a sandbox ERP target"):
        async with configured_ports(settings.model_copy(
                update={"netsuite_revenue_subledger": "netsuite"}), SECRETS):
            pass


async def test_an_entity_whose_books_are_all_in_netsuite(netsuite: FakeNetSuite) -> None:
    """Activation, invoice and payment of a US01 subscription routed wholly to NetSuite:
    NetSuite holds the customer, contract and journals, the sub-ledger the schedule."""
    life = annual("sub_nsr")
    (inv,) = [e.payload.invoice for e in life.events if e.event_type == "invoice.issued"]
    life.pay("py_nsr", inv.invoice_id, usd("1320.00"), dt.date(2026, 1, 20))
    async with fresh_ts_env() as env, netsuite_client(
            CREDENTIALS, transport=netsuite.transport()) as client:
        ns = NetSuiteErpAdapter("netsuite", client, books())
        world = World()  # world.erp (erp-fake) is the revenue sub-ledger here
        world.erps = {"netsuite": ns, "netsuite-revenue": RevenueSubledger(
            "netsuite-revenue", subledger=world.erp, ledger=ns)}
        world.routing = RoutingTable(default="erp-fake", entities={"US01": {
            Domain.CUSTOMER_MASTER: "netsuite", Domain.RECEIVABLES: "netsuite",
            Domain.REVENUE: "netsuite-revenue"}})
        async with running(env.client, "tq-netsuite-rev", world) as config:
            handle = await send(env.client, config, life.events)
            await until(handle, quiet(3))
    assert world.erp.kinds() == ["schedule"]
    assert len(netsuite.records["journalEntry"]) == 2
    assert netsuite.balances()["1200"] == 0
