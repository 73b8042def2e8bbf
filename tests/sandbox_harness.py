"""Helpers for tests against the sandbox systems: stores, running ERPs, sample documents."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.erp.port import (
    ContractPosting,
    CustomerUpsert,
    InvoicePosting,
    JournalPosting,
    PaymentPosting,
    ScheduleEnd,
    SchedulePosting,
)
from adapters.erp.sandbox import SandboxErpAdapter, SandboxErpReader
from adapters.sandbox.serve import running_sandboxes
from adapters.transport import async_client
from canonical.accounts import LegalEntity
from canonical.billing import Invoice, InvoiceLine, LineKind
from canonical.catalog import BillingPeriod, Plan
from canonical.customer import Address, CustomerAccount, Party
from canonical.money import Money
from canonical.payment import Payment
from canonical.posting import invoice_entry, payment_entry, recognition_entry
from canonical.revenue import RevenueSchedule
from canonical.schedules import schedules_for_invoice
from canonical.subscription import Subscription, SubscriptionItem
from settings import load_entities

ROOT = Path(__file__).resolve().parents[1]
ENTITIES: dict[str, LegalEntity] = load_entities(ROOT / "config" / "entities.toml")
POSTGRES_URL = os.environ.get("CASHLOOP_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HTTP_TIMEOUT = 30.0


def uid(prefix: str) -> str:
    """A unique business id, so tests never share documents."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sqlite_stores(directory: Path) -> Callable[[str], str]:
    """A store URL factory giving each service its own SQLite file under `directory`."""
    return lambda name: f"sqlite:///{directory / f'{name}.db'}"


def postgres_or_skip(url: str = POSTGRES_URL) -> str:
    """The PostgreSQL URL if a server answers; otherwise skip (or fail when CI=true)."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {url}: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        print(f"skipping: {reason}")
        pytest.skip(reason)
    return url


@dataclass
class ErpHandle:
    """A running sandbox ERP with its port adapter, reader and raw HTTP client."""

    name: str
    url: str
    client: httpx.AsyncClient
    adapter: SandboxErpAdapter
    reader: SandboxErpReader


@contextlib.asynccontextmanager
async def erp_sandbox(store_url_factory: Callable[[str], str],
                      name: str = "erp-test") -> AsyncIterator[ErpHandle]:
    """One sandbox ERP on a free port."""
    async with running_sandboxes([name], store_url_factory, ENTITIES) as urls, \
            async_client(urls[name], timeout=HTTP_TIMEOUT) as client:
        yield ErpHandle(name, urls[name], client, SandboxErpAdapter(name, client),
                        SandboxErpReader(client))


# --- sample documents --------------------------------------------------------------------

JAN_1 = dt.date(2025, 1, 1)
NEXT_JAN_1 = dt.date(2026, 1, 1)


def address(country: str = "US", region: str | None = "CA") -> Address:
    return Address(line1="1 Main St", city="Springfield", postal_code="12345",
                   region=region, country=country)


def customer(customer_id: str | None = None, legal_entity: str = "US01", country: str = "US",
             currency: str = "USD", region: str | None = "CA") -> CustomerAccount:
    return CustomerAccount(
        customer_id=customer_id or uid("cus"), name="Acme", legal_entity=legal_entity,
        country=country, currency=currency,
        bill_to=Party(name="Acme AP", address=address(country, region)))


def subscription(customer_id: str, subscription_id: str | None = None,
                 price: str = "1200.00", currency: str = "USD",
                 legal_entity: str = "US01") -> Subscription:
    plan = Plan(plan_code="pro-annual", sku="PRO", name="Pro",
                price=Money(amount=Decimal(price), currency=currency),
                billing_period=BillingPeriod.YEAR)
    return Subscription(subscription_id=subscription_id or uid("sub"), customer_id=customer_id,
                        legal_entity=legal_entity, currency=currency,
                        items=[SubscriptionItem(item_id="item-1", plan=plan, quantity=1)],
                        term_start=JAN_1, term_end=NEXT_JAN_1)


def invoice(invoice_id: str | None = None, customer_id: str = "cus-1",
            amount: str = "1200.00", currency: str = "USD", legal_entity: str = "US01",
            usage: str | None = None) -> Invoice:
    lines = [InvoiceLine(line_id="l1", kind=LineKind.RECURRING, description="Pro annual",
                         amount=Money(amount=Decimal(amount), currency=currency),
                         period_start=JAN_1, period_end=NEXT_JAN_1)]
    if usage:
        lines.append(InvoiceLine(line_id="u1", kind=LineKind.USAGE, description="Overage",
                                 amount=Money(amount=Decimal(usage), currency=currency)))
    return Invoice(invoice_id=invoice_id or uid("in"), customer_id=customer_id,
                   legal_entity=legal_entity, currency=currency, issued_on=JAN_1,
                   due_on=dt.date(2025, 1, 31), lines=lines)


def invoice_posting(inv: Invoice) -> InvoicePosting:
    chart = ENTITIES[inv.legal_entity].chart
    return InvoicePosting(external_id=f"inv:{inv.invoice_id}", invoice=inv,
                          entry=invoice_entry(inv, chart))


def payment_posting(inv: Invoice, amount: str | None = None,
                    payment_id: str | None = None) -> PaymentPosting:
    pay = Payment(payment_id=payment_id or uid("py"), invoice_id=inv.invoice_id,
                  customer_id=inv.customer_id, legal_entity=inv.legal_entity,
                  amount=Money(amount=Decimal(amount or str(inv.total.amount)),
                               currency=inv.currency),
                  received_on=dt.date(2025, 1, 15))
    return PaymentPosting(external_id=f"pay:{pay.payment_id}", payment=pay,
                          entry=payment_entry(pay, ENTITIES[inv.legal_entity].chart))


def customer_upsert(cust: CustomerAccount) -> CustomerUpsert:
    return CustomerUpsert(external_id=f"cust:{cust.customer_id}", customer=cust)


def contract_posting(sub: Subscription) -> ContractPosting:
    return ContractPosting(external_id=f"ctr:{sub.subscription_id}", subscription=sub)


def schedule_of(inv: Invoice) -> RevenueSchedule:
    return schedules_for_invoice(inv)[0]


def schedule_posting(schedule: RevenueSchedule) -> SchedulePosting:
    return SchedulePosting(external_id=f"sch:{schedule.schedule_id}", schedule=schedule)


def recognition_posting(schedule: RevenueSchedule, period: str) -> JournalPosting:
    p = next(p for p in schedule.periods if p.period == period)
    entry = recognition_entry(schedule.schedule_id, period, p.amount, schedule.legal_entity,
                              schedule.customer_id, p.end - dt.timedelta(days=1),
                              ENTITIES[schedule.legal_entity].chart)
    return JournalPosting(external_id=entry.external_id, entry=entry)


def schedule_end(schedule: RevenueSchedule, end_on: dt.date, key: str = "amend") -> ScheduleEnd:
    return ScheduleEnd(external_id=f"sche:{schedule.schedule_id}:{key}",
                       legal_entity=schedule.legal_entity, schedule_id=schedule.schedule_id,
                       end_on=end_on, reason="amendment")


async def assert_concurrent_duplicates(erp: ErpHandle, copies: int = 20) -> None:
    """`copies` identical postings at once: exactly one document, the rest duplicates."""
    posting = invoice_posting(invoice())
    await erp.reader.reset_stats()
    results = await asyncio.gather(*(
        erp.adapter.post([posting], correlation_id=f"c-{i}") for i in range(copies)))
    receipts = [r[0] for r in results]
    assert len({r.document_id for r in receipts}) == 1
    assert sum(not r.duplicate for r in receipts) == 1
    docs = await erp.reader.documents(kind="invoice")
    assert [d.external_id for d in docs].count(posting.external_id) == 1
    entries = await erp.reader.journal_entries()
    assert [e.external_id for e in entries].count(posting.entry.external_id) == 1
    stats = await erp.reader.stats()
    assert stats["postings_created"] == 1
    assert stats["duplicates"] == copies - 1


async def assert_posting_idempotent(erp: ErpHandle) -> None:
    """The same posting twice: one document, the second receipt a duplicate."""
    posting = invoice_posting(invoice())
    first = (await erp.adapter.post([posting], correlation_id="c-1"))[0]
    second = (await erp.adapter.post([posting], correlation_id="c-2"))[0]
    assert not first.duplicate
    assert second.duplicate
    assert second.document_id == first.document_id
    assert first.document_id.startswith("INV-")
    assert first.erp == erp.name
    docs = await erp.reader.documents(kind="invoice")
    assert [d.external_id for d in docs].count(posting.external_id) == 1
