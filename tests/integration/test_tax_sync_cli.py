"""`starter.py tax sync` end to end: the sandbox ERP's register over HTTP, AvaTax's stand-in
over HTTP, the command's own settings and secrets."""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.erp.port import CreditMemoPosting
from adapters.sandbox.serve import running_sandboxes
from adapters.tax.avalara import AvalaraTaxAdapter, avatax_client
from canonical.billing import CreditMemo, CreditMemoLine
from canonical.money import Money
from canonical.posting import credit_memo_entry
from cli.tax import sync_command
from settings import Settings
from tests.sandbox_harness import (
    ENTITIES,
    customer,
    customer_upsert,
    erp_sandbox,
    invoice,
    invoice_posting,
    sqlite_stores,
)
from tests.unit.avatax_api_fake import ACCOUNT, LICENSE, FakeAvaTax
from tests.vendor_standins import serving


async def test_a_period_sync_files_the_books_credit_memo_in_avatax(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    avatax = FakeAvaTax()
    cust = customer("cus-tax")
    inv = invoice("in-tax", customer_id=cust.customer_id)  # issued 2025-01-01
    memo = CreditMemo(credit_memo_id="cm-tax", customer_id=cust.customer_id,
                      invoice_id=inv.invoice_id, legal_entity="US01", currency="USD",
                      issued_on=dt.date(2025, 1, 20), reason="service credit",
                      lines=[CreditMemoLine(line_id="l1", description="credit",
                                            amount=Money.of("100.00", "USD"),
                                            tax_amount=Money.of("8.88", "USD"))])
    async with serving({"avatax": avatax._handle}) as vendor, \
            avatax_client(ACCOUNT, LICENSE, base_url=vendor["avatax"]) as client:
        tax = await AvalaraTaxAdapter(client).calculate(inv, cust.bill_to.address,
                                                        correlation_id="c")
        taxed = inv.model_copy(update={"tax": tax})
        async with erp_sandbox(sqlite_stores(tmp_path), name="erp-legacy") as legacy, \
                running_sandboxes(["erp-cloud"], sqlite_stores(tmp_path), ENTITIES) as urls:
            entry = credit_memo_entry(memo, ENTITIES["US01"].chart)
            await legacy.adapter.post([customer_upsert(cust), invoice_posting(taxed),
                                       CreditMemoPosting(external_id="cm:cm-tax",
                                                         credit_memo=memo, entry=entry)],
                                      correlation_id="c")
            settings = Settings(sandbox_urls={**urls, "erp-legacy": legacy.url},
                                tax_connector="avalara", avatax_account_id=ACCOUNT,
                                avatax_api_base=vendor["avatax"])
            monkeypatch.setenv("CASHLOOP_AVATAX_LICENSE_KEY", LICENSE)
            args = argparse.Namespace(period="2025-01", entities=None, commit=True,
                                      dry_run=False)
            assert await sync_command(args, settings) == 0
            assert await sync_command(args, settings) == 0  # again: nothing more
    out = capsys.readouterr().out.splitlines()
    assert "return cm-tax of in-tax: filed and committed" in out
    assert "commit in-tax: committed" in out
    assert "return cm-tax: already committed" in out
    ret = avatax.transactions[("US01", "cm-tax")]
    assert (ret["type"], ret["status"]) == ("ReturnInvoice", "Committed")
    assert Decimal(str(ret["totalTax"])) == Decimal("-8.88")
