"""What AvaTax needs for filing beyond an invoice's tax: returns, voids and commits.

The tax connector saves each invoice's SalesInvoice uncommitted (adapters/tax/avalara.py).
Before a period's tax is filed, `starter.py tax sync` (cli/tax.py) brings AvaTax in line
with the books: a credit memo of an AvaTax-taxed invoice becomes a ReturnInvoice with
exactly the tax Cashloop credited (a `TaxAmount` override per line, the original
invoice's date as the tax date), a voided invoice's transaction is voided, and with
`--commit` the period's invoices and returns are committed. Every call is keyed by the
document's code, so the sync can run again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from adapters.http import call
from canonical.billing import CreditMemo, CreditMemoLine, Invoice
from canonical.customer import Address

from .avalara import SYSTEM, addresses_model, avatax_json

# AvaTax's transaction states that are filed, or on the way to it.
COMMITTED, VOIDED = "Committed", "Cancelled"


class AvaTaxFiling:
    """Returns, voids and commits of one AvaTax account.

    Args:
        client: from `avalara.avatax_client`.
        companies: legal entity -> AvaTax company code (default: the entity's own code).
        ship_from: legal entity -> the address it sells from.
    """

    def __init__(self, client: httpx.AsyncClient, *, companies: dict[str, str] | None = None,
                 ship_from: dict[str, Address] | None = None) -> None:
        self._client = client
        self._companies = companies or {}
        self._ship_from = ship_from or {}

    def company(self, legal_entity: str) -> str:
        return self._companies.get(legal_entity, legal_entity)

    async def transaction(self, legal_entity: str, code: str, *,
                          correlation_id: str) -> dict[str, Any] | None:
        """The transaction with this code, or None when AvaTax has none."""
        response = await call(self._client, "GET", self._path(legal_entity, code),
                              system=SYSTEM, correlation_id=correlation_id,
                              answers=frozenset({404}))
        return None if response.status_code == 404 else avatax_json(response)

    async def commit(self, legal_entity: str, code: str, *, correlation_id: str) -> None:
        await call(self._client, "POST", f"{self._path(legal_entity, code)}/commit",
                   system=SYSTEM, correlation_id=correlation_id, json={"commit": True})

    async def void(self, legal_entity: str, code: str, *, correlation_id: str) -> None:
        await call(self._client, "POST", f"{self._path(legal_entity, code)}/void",
                   system=SYSTEM, correlation_id=correlation_id, json={"code": "DocVoided"})

    async def file_return(self, memo: CreditMemo, lines: list[CreditMemoLine], *, code: str,
                          invoice: Invoice, ship_to: Address, commit: bool,
                          correlation_id: str) -> dict[str, Any]:
        """A ReturnInvoice of `lines` (all on `invoice`) carrying exactly their credited tax."""
        entity = memo.legal_entity
        by_id = {ln.line_id: ln for ln in invoice.lines}
        reason = f"credit memo {memo.credit_memo_id}: {memo.reason}"[:255]
        model = {
            "code": code, "type": "ReturnInvoice", "commit": commit,
            "companyCode": self.company(entity), "date": memo.issued_on.isoformat(),
            "customerCode": memo.customer_id, "currencyCode": memo.currency,
            "referenceCode": invoice.invoice_id,
            "addresses": addresses_model(ship_to, self._ship_from.get(entity)),
            # a return is taxed as of the sale it returns
            "taxOverride": {"type": "TaxDate", "taxDate": invoice.issued_on.isoformat(),
                            "reason": reason},
            "lines": [{"number": number, "quantity": 1,
                       "amount": _negative(ln.amount.amount),
                       "taxCode": by_id[ln.line_id].tax_code if ln.line_id in by_id else None,
                       "itemCode": _item(invoice, ln), "description": ln.description[:2000],
                       "taxOverride": {"type": "TaxAmount",
                                       "taxAmount": _negative(ln.tax_amount.amount),
                                       "reason": reason}}
                      for number, ln in _numbered(lines)]}
        response = await call(self._client, "POST", "/api/v2/transactions/createoradjust",
                              system=SYSTEM, correlation_id=correlation_id,
                              json={"createTransactionModel": model})
        return avatax_json(response)

    def _path(self, legal_entity: str, code: str) -> str:
        company = quote(self.company(legal_entity), safe="")
        return f"/api/v2/companies/{company}/transactions/{quote(code, safe='')}"


def _numbered(lines: list[CreditMemoLine]) -> list[tuple[str, CreditMemoLine]]:
    """Line numbers unique within the return: the credited line's id, suffixed when one
    memo credits a line twice."""
    seen: dict[str, int] = {}
    numbered = []
    for ln in lines:
        seen[ln.line_id] = seen.get(ln.line_id, 0) + 1
        count = seen[ln.line_id]
        numbered.append((ln.line_id if count == 1 else f"{ln.line_id}-{count}", ln))
    return numbered


def _item(invoice: Invoice, line: CreditMemoLine) -> str:
    for ln in invoice.lines:
        if ln.line_id == line.line_id:
            return ln.sku or ln.plan_code or ln.line_id
    return line.line_id


def _negative(amount: Decimal) -> str:
    # exact, as a decimal string (AvaTax reads it as a number)
    return str(-abs(amount))


