"""The NetSuite ERP connector against an in-memory NetSuite account (netsuite_api_fake)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import NetSuiteTba, netsuite_client
from adapters.erp.netsuite_records import NetSuiteBooks, json_body, ns_external_id
from adapters.erp.port import (
    ContractPosting,
    CustomerUpsert,
    ErpPort,
    InvoicePosting,
    JournalPosting,
    ReceiptStatus,
    ScheduleEnd,
)
from adapters.erp.routing import Domain, ErpRouter, RoutingTable
from canonical.errors import (
    InvalidDataError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
)
from canonical.ledger import JournalEntry, JournalLine, Side
from canonical.money import Money
from devstack import streams
from ports import configured_ports
from settings import Settings
from settings_secrets import Secrets
from tests.unit.fakes import FakeErp
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
from tests.unit.netsuite_api_fake import CREDENTIALS, FakeNetSuite

CID = "corr-ns"


def books() -> NetSuiteBooks:
    """Each account of US01 and DE01 is NetSuite's internal id "9" + its code."""
    accounts = {code: {a.code: f"9{a.code}" for a in ENTITIES[code].chart.accounts.values()}
                for code in ("US01", "DE01")}
    return NetSuiteBooks(subsidiaries={"US01": "1", "DE01": "3"}, accounts=accounts,
                         currencies={"USD": "1", "EUR": "4"})


def fake_netsuite() -> FakeNetSuite:
    """An account holding the accounts `books()` names."""
    ns = FakeNetSuite()
    ns.accounts = {i: code for entity in books().accounts.values() for code, i in entity.items()}
    return ns


@pytest.fixture
def netsuite() -> FakeNetSuite:
    return fake_netsuite()


@pytest.fixture
async def erp(netsuite: FakeNetSuite) -> AsyncIterator[NetSuiteErpAdapter]:
    async with netsuite_client(CREDENTIALS, transport=netsuite.transport()) as client:
        yield NetSuiteErpAdapter("netsuite", client, books())


def customer(customer_id: str = "cus_1") -> CustomerUpsert:
    return CustomerUpsert(external_id=f"cust:{customer_id}",
                          customer=streams.customer(customer_id, "US"))


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def invoice_entry(invoice_id: str = "in_1", on: dt.date = dt.date(2026, 11, 3),
                  customer_id: str = "cus_1") -> JournalEntry:
    return JournalEntry(
        external_id=f"inv:{invoice_id}", legal_entity="US01", posting_date=on,
        currency="USD", source_type="invoice", source_id=invoice_id, memo=f"Invoice {invoice_id}",
        lines=[JournalLine(account="1200", side=Side.DEBIT, amount=usd("1085.65"),
                           customer_id=customer_id),
               JournalLine(account="2400", side=Side.CREDIT, amount=usd("1000.10")),
               JournalLine(account="2200", side=Side.CREDIT, amount=usd("85.55"))])


def invoice(invoice_id: str = "in_1", on: dt.date = dt.date(2026, 11, 3),
            customer_id: str = "cus_1") -> JournalPosting:
    # the connector posts every entry-carrying posting alike; a journal keeps the test small
    return JournalPosting(external_id=f"inv:{invoice_id}",
                          entry=invoice_entry(invoice_id, on, customer_id))


def test_external_ids_keep_to_netsuites_characters_and_stay_distinct() -> None:
    ids = ["inv:in_1~2", "inv:in_1_7e_2", "inv:in-1~2", "cust:Ab 1/x"]
    encoded = [ns_external_id(i) for i in ids]
    assert encoded[0] == "inv_3a_in_5f_1_7e_2"
    assert len(set(encoded)) == len(ids)
    assert all(c.isalnum() or c in "_-" for e in encoded for c in e)


def test_amounts_are_exact_json_numbers() -> None:
    assert json_body({"debit": Decimal("1085.65"), "q": [Decimal("-0.10"), Decimal("1E+2")],
                      "memo": "1085.65"}) == (
        b'{"debit": 1085.65, "q": [-0.10, 1E+2], "memo": "1085.65"}')


def test_the_signature_is_oauthlibs_for_the_same_request() -> None:
    """The fake checks every request with oauthlib; here one request by hand, with a query."""
    tba = NetSuiteTba(CREDENTIALS, clock=lambda: 1_770_000_000, nonce=lambda: "n0nce")
    url = httpx.URL("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/"
                    "suiteql?limit=1000&offset=0")
    header = tba.header("POST", url)
    assert header.startswith('OAuth realm="1234567_SB1",oauth_consumer_key="ck"')
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client
    c = CREDENTIALS
    _, signed, _ = Client(c.consumer_key, client_secret=c.consumer_secret,
                          resource_owner_key=c.token_id, resource_owner_secret=c.token_secret,
                          signature_method=SIGNATURE_HMAC_SHA256, realm="1234567_SB1",
                          nonce="n0nce", timestamp="1770000000").sign(str(url), "POST")
    theirs = signed["Authorization"].split("oauth_signature=")[1].split('"')[1]
    assert f'oauth_signature="{theirs}"' in header


async def test_a_journal_posts_once_with_its_lines_and_a_repeat_is_a_duplicate(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    (cust,) = await erp.post([customer()], correlation_id=CID)
    before = len(netsuite.requests)
    (first,) = await erp.post([invoice()], correlation_id=CID)
    journal_calls = [f"{r.method} {r.url.path.rsplit('/', 1)[-1]}"
                     for r in netsuite.requests[before:] if "journalEntry" in r.url.path]
    assert journal_calls == ["POST journalEntry"]  # a new document is one request
    (again,) = await erp.post([invoice()], correlation_id=CID)
    assert (first.status, first.duplicate, again.duplicate) == (ReceiptStatus.POSTED, False, True)
    assert first.document_id == again.document_id
    je = netsuite.by_external_id("journalEntry", "inv_3a_in_5f_1")
    assert je is not None and je["tranDate"] == "2026-11-03"
    assert (je["subsidiary"], je["currency"], je["exchangeRate"]) == (
        {"id": "1"}, {"id": "1"}, Decimal(1))
    ar, deferred, tax = je["line"]["items"]
    assert (ar["debit"], ar["entity"]) == (Decimal("1085.65"), {"id": cust.document_id
                                                                .split("/")[1]})
    assert (deferred["credit"], tax["credit"]) == (Decimal("1000.10"), Decimal("85.55"))
    assert netsuite.balances() == {"1200": Decimal("1085.65"), "2400": Decimal("-1000.10"),
                                   "2200": Decimal("-85.55")}


async def test_a_customer_upsert_updates_netsuite_and_answers_duplicate(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    (created,) = await erp.post([customer()], correlation_id=CID)
    renamed = customer()
    renamed = renamed.model_copy(update={"customer": renamed.customer.model_copy(
        update={"name": "Renamed Ltd"})})
    (again,) = await erp.post([renamed], correlation_id=CID)
    assert (created.duplicate, again.duplicate) == (False, True)
    assert created.document_id == again.document_id
    (record,) = netsuite.records["customer"].values()
    assert (record["companyName"], record["subsidiary"]) == ("Renamed Ltd", {"id": "1"})


async def test_a_refused_posting_fails_alone_and_names_what_is_missing(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    outcomes = await erp.post_each([customer(), invoice("in_x", customer_id="cus_unknown"),
                                    invoice("in_2")], [CID] * 3)
    assert isinstance(outcomes[1], InvalidDataError)
    assert "no customer cust:cus_unknown" in outcomes[1].message
    assert [o.external_id for o in (outcomes[0], outcomes[2])  # type: ignore[union-attr]
            ] == ["cust:cus_1", "inv:in_2"]
    wrong = invoice_entry("in_3").model_copy(update={"legal_entity": "JP01"})
    (refused,) = await erp.post_each([JournalPosting(external_id="inv:in_3", entry=wrong)],
                                     [CID])
    assert isinstance(refused, InvalidDataError) and "configured for JP01" in refused.message


async def test_a_journal_dated_in_a_locked_period_moves_to_the_next_open_one(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    netsuite.lock("2026-10")
    netsuite.lock("2026-11", "closed")
    await erp.post([customer()], correlation_id=CID)
    (receipt,) = await erp.post([invoice(on=dt.date(2026, 10, 30))], correlation_id=CID)
    assert receipt.posted_period == "2026-12"
    je = netsuite.by_external_id("journalEntry", "inv_3a_in_5f_1")
    assert je is not None and je["tranDate"] == "2026-12-01"


async def test_lock_period_confirms_netsuites_lock_and_parks_an_open_period(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    netsuite.lock("2026-10")
    lock = await erp.lock_period("US01", "2026-10", correlation_id=CID)
    assert (lock.period, lock.erp) == ("2026-10", "netsuite")
    with pytest.raises(InvalidDataError, match="2026-11 is open in NetSuite"):
        await erp.lock_period("US01", "2026-11", correlation_id=CID)


async def test_a_reversal_mirrors_the_journal_and_marks_it_reversed(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    await erp.post([customer(), invoice()], correlation_id=CID)
    rev = await erp.reverse("inv:in_1", reversal_external_id="rev:inv:in_1",
                            reason="voided", correlation_id=CID)
    again = await erp.reverse("inv:in_1", reversal_external_id="rev:inv:in_1",
                              reason="voided", correlation_id=CID)
    assert (rev.duplicate, again.duplicate) == (False, True)
    assert netsuite.balances() == {"1200": 0, "2400": 0, "2200": 0}
    original = await erp.get_receipt("inv:in_1", correlation_id=CID)
    assert original.status == ReceiptStatus.REVERSED
    mirror = netsuite.by_external_id("journalEntry", ns_external_id("rev:inv:in_1"))
    assert mirror is not None
    assert mirror["memo"] == "Reversal of inv:in_1: voided [cashloop reversal inv:in_1]"
    with pytest.raises(RejectedError, match="already reversed by rev:inv:in_1"):
        await erp.reverse("inv:in_1", reversal_external_id="rev2", reason="x",
                          correlation_id=CID)
    with pytest.raises(NotFoundError):
        await erp.reverse("inv:nope", reversal_external_id="rev:nope", reason="x",
                          correlation_id=CID)


async def test_a_create_that_loses_a_race_answers_the_winner_as_duplicate(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    await erp.post([customer()], correlation_id=CID)
    netsuite.race.add("inv_3a_in_5f_1")
    (receipt,) = await erp.post([invoice()], correlation_id=CID)
    assert (receipt.status, receipt.duplicate) == (ReceiptStatus.POSTED, True)
    assert len(netsuite.records["journalEntry"]) == 1


async def test_a_contract_is_a_custom_record_and_cancels_once(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    life = streams.lifecycle("sub_1", streams.customer("cus_1", "US"), dt.date(2026, 1, 1))
    posting = ContractPosting(external_id="ctr:sub_1", subscription=life.subscription)
    (created,) = await erp.post([posting], correlation_id=CID)
    (again,) = await erp.post([posting], correlation_id=CID)
    assert again.duplicate and again.document_id == created.document_id
    cancelled = await erp.cancel_contract("ctr:sub_1", reason="churn", correlation_id=CID)
    repeat = await erp.cancel_contract("ctr:sub_1", reason="churn", correlation_id=CID)
    assert (cancelled.status, cancelled.duplicate, repeat.duplicate) == (
        ReceiptStatus.CANCELLED, False, True)
    (record,) = netsuite.records["customrecord_cashloop_contract"].values()
    assert (record["custrecord_cashloop_customer"], record["custrecord_cashloop_reason"]) == (
        "cus_1", "churn")
    assert (await erp.get_receipt("ctr:sub_1", correlation_id=CID)).status == (
        ReceiptStatus.CANCELLED)


async def test_a_rate_limit_fails_the_batch_for_a_retry_and_revenue_is_refused(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    netsuite.faults.append(429)
    with pytest.raises(RateLimitedError, match="CONCURRENCY_LIMIT_EXCEEDED"):
        await erp.post([customer()], correlation_id=CID)
    end = ScheduleEnd(external_id="sche:s1:x", legal_entity="US01", schedule_id="s1",
                      end_on=dt.date(2026, 6, 1), reason="x")
    (refused,) = await erp.post_each([end], [CID])
    assert isinstance(refused, InvalidDataError) and "revenue domain" in refused.message
    with pytest.raises(InvalidDataError, match="keeps no revenue schedules"):
        await erp.open_revenue_periods("US01", "2026-11", correlation_id=CID)


async def test_a_foreign_entry_carries_its_rate(erp: NetSuiteErpAdapter,
                                                netsuite: FakeNetSuite) -> None:
    await erp.post([customer()], correlation_id=CID)
    entry = invoice_entry().model_copy(update={"functional_currency": "USD", "currency": "EUR",
                                               "rate": Decimal("1.0850")})
    entry = entry.model_copy(update={"lines": [ln.model_copy(update={"amount": Money(
        amount=ln.amount.amount, currency="EUR")}) for ln in entry.lines]})
    await erp.post([InvoicePosting.model_construct(
        kind="invoice", external_id="inv:in_1", invoice=None, entry=entry)],
        correlation_id=CID)
    je = netsuite.by_external_id("journalEntry", "inv_3a_in_5f_1")
    assert je is not None and (je["currency"], je["exchangeRate"]) == (
        {"id": "4"}, Decimal("1.0850"))


async def test_a_functional_only_fx_line_is_left_to_netsuite(
        erp: NetSuiteErpAdapter, netsuite: FakeNetSuite) -> None:
    """A settling payment's realised FX line has no transaction amount: NetSuite computes
    functional amounts from the rate itself, so the line is not sent (a zero line would be
    refused, and the journal still balances in its currency)."""
    await erp.post([customer()], correlation_id=CID)
    eur = Money(amount=Decimal("100.00"), currency="EUR")
    entry = JournalEntry(
        external_id="pay:py_1", legal_entity="US01", posting_date=dt.date(2026, 11, 3),
        currency="EUR", functional_currency="USD", rate=Decimal("1.1"),
        source_type="payment", source_id="py_1",
        lines=[JournalLine(account="1010", side=Side.DEBIT, amount=eur,
                           functional_amount=usd("110.00")),
               JournalLine(account="1200", side=Side.CREDIT, amount=eur,
                           functional_amount=usd("108.00"), customer_id="cus_1"),
               JournalLine(account="7900", side=Side.CREDIT, amount=Money.zero("EUR"),
                           functional_amount=usd("2.00"))])
    await erp.post([JournalPosting(external_id="pay:py_1", entry=entry)], correlation_id=CID)
    je = netsuite.by_external_id("journalEntry", "pay_3a_py_5f_1")
    assert je is not None
    assert [ln["account"]["id"] for ln in je["line"]["items"]] == ["91010", "91200"]


SECRETS = Secrets(netsuite_consumer_key=SecretStr("ck"), netsuite_consumer_secret=SecretStr("cs"),
                  netsuite_token_id=SecretStr("tk"), netsuite_token_secret=SecretStr("ts"))


async def test_the_worker_adds_the_netsuite_target_when_configured() -> None:
    settings = Settings(netsuite_account_id=CREDENTIALS.account_id, netsuite_books=books())
    async with configured_ports(settings, SECRETS) as ports:
        assert ports.erps["netsuite"].name == "netsuite"
        assert "erp-legacy" in ports.erps
    with pytest.raises(ValueError, match="needs the token-based authentication secrets"):
        async with configured_ports(settings, SECRETS.model_copy(
                update={"netsuite_token_secret": None})):
            pass
    with pytest.raises(ValueError, match="needs CASHLOOP_NETSUITE_BOOKS"):
        async with configured_ports(settings.model_copy(update={"netsuite_books": None}),
                                    SECRETS):
            pass


async def test_routing_revenue_to_netsuite_is_refused_at_start(erp: NetSuiteErpAdapter) -> None:
    erps: dict[str, ErpPort] = {"erp-fake": FakeErp("erp-fake"), "netsuite": erp}
    ErpRouter(NETSUITE_ROUTING, erps)
    with pytest.raises(ValueError, match="sends US01 revenue to netsuite, which keeps only "
                                         "customer_master, receivables"):
        ErpRouter(RoutingTable(default="erp-fake", entities={
            "US01": {Domain.RECEIVABLES: "netsuite", Domain.REVENUE: "netsuite"}}), erps)
    with pytest.raises(ValueError, match="sends default revenue to netsuite"):
        ErpRouter(RoutingTable(default="netsuite"), erps)


# US01's customers and receivables in NetSuite, its revenue schedules in another ERP.
NETSUITE_ROUTING = RoutingTable(default="erp-fake", entities={"US01": {
    Domain.CUSTOMER_MASTER: "netsuite", Domain.RECEIVABLES: "netsuite",
    Domain.REVENUE: "erp-fake"}})


async def test_an_activation_invoice_and_payment_post_to_netsuite(
        netsuite: FakeNetSuite) -> None:
    """The entity on the time-skipping server: customer, contract, the invoice's and the
    payment's journals in NetSuite (AR settled), the revenue schedule in the other ERP."""
    life = annual("sub_ns")
    (inv,) = [e.payload.invoice for e in life.events if e.event_type == "invoice.issued"]
    life.pay("py_ns", inv.invoice_id, usd("1320.00"), dt.date(2026, 1, 20))  # with its tax
    async with fresh_ts_env() as env, netsuite_client(
            CREDENTIALS, transport=netsuite.transport()) as client:
        world = World(erps={"netsuite": NetSuiteErpAdapter("netsuite", client, books())},
                      routing=NETSUITE_ROUTING)
        async with running(env.client, "tq-netsuite", world) as config:
            handle = await send(env.client, config, life.events)
            await until(handle, quiet(3))
    assert [c["companyName"] for c in netsuite.records["customer"].values()] == [
        "Customer cus_sub_ns"]
    assert len(netsuite.records["customrecord_cashloop_contract"]) == 1
    journals = {je["externalId"] for je in netsuite.records["journalEntry"].values()}
    assert journals == {ns_external_id("inv:in_sub_ns"), ns_external_id("pay:py_ns")}
    balances = netsuite.balances()
    assert balances["1200"] == 0  # paid in full
    assert (balances["1010"], balances["2200"]) == (Decimal("1320.00"), Decimal("-120.00"))
    assert balances["2400"] == -Decimal("1200.00")  # deferred until recognised
    assert not [d for d in world.erp.documents if d.startswith(("inv:", "pay:", "cust:"))]
    assert any(d.startswith("sch:") for d in world.erp.documents)
