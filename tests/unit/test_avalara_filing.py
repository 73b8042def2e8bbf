"""`starter.py tax sync`: AvaTax brought in line with the books (avatax_api_fake)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.erp.sandbox import ErpDocument
from adapters.tax.avalara import AvalaraTaxAdapter, avatax_client
from adapters.tax.avalara_filing import AvaTaxFiling
from canonical.billing import CreditMemo, CreditMemoLine, Invoice, TaxResult
from canonical.customer import CustomerAccount
from canonical.money import Money
from cli.tax import render_plan, run_sync, sync_plan
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.unit.flows_harness import annual
from workflows.postings import ship_to

PERIOD = "2026-01"


@pytest.fixture
def avatax() -> FakeAvaTax:
    return FakeAvaTax()


@pytest.fixture
async def filing(avatax: FakeAvaTax) -> AsyncIterator[tuple[AvaTaxFiling, AvalaraTaxAdapter]]:
    async with avatax_client(ACCOUNT, LICENSE, transport=avatax.transport()) as client:
        yield AvaTaxFiling(client), AvalaraTaxAdapter(client)


def doc(kind: str, external_id: str, body: dict[str, Any], status: str = "posted") -> ErpDocument:
    return ErpDocument(external_id=external_id, kind=kind, document_id=external_id,
                       status=status, legal_entity="US01", body=body)


async def taxed(sub_id: str, tax: AvalaraTaxAdapter | None) -> tuple[Invoice, CustomerAccount]:
    """A subscription's first invoice, taxed by AvaTax (a saved SalesInvoice) or by Stripe."""
    life = annual(sub_id)  # San Francisco, CA
    (inv,) = [e.payload.invoice for e in life.events if e.event_type == "invoice.issued"]
    customer = life.customer
    if tax is None:
        result = TaxResult(provider="stripe", calculation_id="txn_1", lines=[],
                           total=Money.zero("USD"), calculated_at=dt.datetime.now(dt.UTC))
    else:
        result = await tax.calculate(inv, ship_to(customer), correlation_id="c")
    return inv.model_copy(update={"tax": result}), customer


def memo(memo_id: str, invoice: Invoice, net: str, tax: str) -> CreditMemo:
    return CreditMemo(credit_memo_id=memo_id, customer_id=invoice.customer_id,
                      invoice_id=invoice.invoice_id, legal_entity="US01", currency="USD",
                      issued_on=dt.date(2026, 1, 20), reason="service credit",
                      lines=[CreditMemoLine(line_id=invoice.lines[0].line_id,
                                            description="credit",
                                            amount=Money.of(net, "USD"),
                                            tax_amount=Money.of(tax, "USD"))])


async def books(tax: AvalaraTaxAdapter) -> list[ErpDocument]:
    """in_a (AvaTax) credited by cm_a; in_v (AvaTax) voided; in_s (Stripe's tax) credited."""
    kept, customer = await taxed("a", tax)
    voided, _ = await taxed("v", tax)
    stripe_taxed, _ = await taxed("s", None)
    return [
        doc("customer", f"cust:{customer.customer_id}", {"customer": customer.model_dump(
            mode="json")}),
        *[doc("customer", f"cust:cus_{s}", {"customer": customer.model_copy(
            update={"customer_id": f"cus_{s}"}).model_dump(mode="json")}) for s in "vs"],
        doc("invoice", "inv:in_a", {"invoice": kept.model_dump(mode="json")}),
        doc("invoice", "inv:in_v", {"invoice": voided.model_dump(mode="json")}, "reversed"),
        doc("invoice", "inv:in_s", {"invoice": stripe_taxed.model_dump(mode="json")}),
        doc("credit_memo", "cm:cm_a", {"credit_memo": memo("cm_a", kept, "100.00", "8.88")
                                       .model_dump(mode="json")}),
        doc("credit_memo", "cm:cm_s", {"credit_memo": memo("cm_s", stripe_taxed, "100.00",
                                                           "8.88").model_dump(mode="json")}),
    ]


async def test_the_plan_returns_credits_voids_voided_invoices_and_commits_the_rest(
        filing: tuple[AvaTaxFiling, AvalaraTaxAdapter]) -> None:
    plan = sync_plan(await books(filing[1]), PERIOD)
    assert render_plan(plan).splitlines() == [
        "return cm_a of in_a: 100.00 net, 8.88 tax USD",
        "void in_v: invoice voided",
        "commit in_a"]
    assert sync_plan(await books(filing[1]), "2026-02").returns == []


async def test_a_sync_files_the_credited_tax_exactly_and_a_second_run_changes_nothing(
        filing: tuple[AvaTaxFiling, AvalaraTaxAdapter], avatax: FakeAvaTax) -> None:
    plan = sync_plan(await books(filing[1]), PERIOD)
    done = await run_sync(filing[0], plan, commit=True)
    assert done == ["return cm_a of in_a: filed and committed", "void in_v: invoice voided",
                    "commit in_a: committed"]
    ret = avatax.transactions[("US01", "cm_a")]
    assert (ret["type"], ret["status"], ret["referenceCode"]) == (
        "ReturnInvoice", "Committed", "in_a")
    assert Decimal(str(ret["totalTax"])) == Decimal("-8.88")  # what Cashloop credited
    assert ret["taxOverride"]["taxDate"] == "2026-01-01"  # taxed as of the sale
    assert avatax.transactions[("US01", "in_a")]["status"] == "Committed"
    assert avatax.transactions[("US01", "in_v")]["status"] == "Cancelled"
    assert ("US01", "cm_s") not in avatax.transactions  # Stripe taxed that sale
    writes = len([r for r in avatax.requests if r.method == "POST"])
    assert await run_sync(filing[0], plan, commit=True) == [
        "return cm_a: already committed"]
    assert len([r for r in avatax.requests if r.method == "POST"]) == writes


async def test_without_commit_returns_are_saved_and_a_reversed_memo_voids_its_return(
        filing: tuple[AvaTaxFiling, AvalaraTaxAdapter], avatax: FakeAvaTax) -> None:
    documents = await books(filing[1])
    await run_sync(filing[0], sync_plan(documents, PERIOD), commit=False)
    assert avatax.transactions[("US01", "cm_a")]["status"] == "Saved"
    assert avatax.transactions[("US01", "in_a")]["status"] == "Saved"
    reversed_memo = [d.model_copy(update={"status": "reversed"})
                     if d.external_id == "cm:cm_a" else d for d in documents]
    reissued = [*reversed_memo, doc("credit_memo", "cm:cm_a~2", next(
        d for d in documents if d.external_id == "cm:cm_a").body)]
    assert sync_plan(reissued, PERIOD).voids == [sync_plan(documents, PERIOD).voids[0]]
    assert [r.code for r in sync_plan(reissued, PERIOD).returns] == ["cm_a"]  # still live
    done = await run_sync(filing[0], sync_plan(reversed_memo, PERIOD), commit=False)
    assert "void cm_a: credit memo reversed" in done
    assert avatax.transactions[("US01", "cm_a")]["status"] == "Cancelled"
