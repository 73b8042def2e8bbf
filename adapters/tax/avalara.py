"""The tax port over Avalara AvaTax (REST v2): an invoice's tax is a saved SalesInvoice.

`POST /api/v2/transactions/createoradjust` with the invoice id as the transaction code:
AvaTax creates the transaction, or adjusts the one with that code, so an activity retry
re-sends the same document and gets the same tax instead of a second transaction. It is
saved, not committed (`commit: false`): the credit memos and voids that later change an
invoice's tax reach AvaTax with the period's sync, which commits (avalara_filing.py,
`starter.py tax sync`).
Each invoice line is one AvaTax line (`number` = the line id); the tax of a line is
AvaTax's line tax, its rate the sum of its jurisdictions' rates (state, county, city,
special district), its jurisdiction their names — Cashloop keeps one rate per line,
which proration of credits uses.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx

from adapters.http import call
from canonical.billing import Invoice, TaxLine, TaxResult
from canonical.customer import Address
from canonical.errors import CashloopError, UnavailableError
from canonical.money import Money, total

SYSTEM = "tax"
AVATAX_API = "https://rest.avatax.com"  # sandbox accounts: https://sandbox-rest.avatax.com
PROVIDER = "avalara"


def avatax_client(account_id: str, license_key: str, *, base_url: str = AVATAX_API,
                  timeout: httpx.Timeout | float = 30.0,
                  transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client for AvaTax with HTTP Basic auth (account id and license key)."""
    token = base64.b64encode(f"{account_id}:{license_key}".encode()).decode()
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                             headers={"Authorization": f"Basic {token}",
                                      "X-Avalara-Client": "Cashloop; 1; REST; v2"})


class AvalaraTaxAdapter:
    """`TaxPort` for AvaTax.

    Args:
        client: from `avatax_client`.
        companies: legal entity -> AvaTax company code (default: the entity's own code).
        ship_from: legal entity -> the address it sells from (origin-sourced jurisdictions
            need it; without one AvaTax sources by the customer's address alone).
    """

    def __init__(self, client: httpx.AsyncClient, *, companies: dict[str, str] | None = None,
                 ship_from: dict[str, Address] | None = None) -> None:
        self._client = client
        self._companies = companies or {}
        self._ship_from = ship_from or {}

    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        """Tax per invoice line; the same invoice id adjusts its transaction to the same
        document, so a repeat returns the same tax."""
        response = await call(self._client, "POST", "/api/v2/transactions/createoradjust",
                              system=SYSTEM, correlation_id=correlation_id,
                              params={"$include": "Details"},
                              json={"createTransactionModel": self._document(invoice, ship_to)})
        return tax_result([ln.line_id for ln in invoice.lines], invoice.currency,
                          avatax_json(response))

    def _document(self, invoice: Invoice, ship_to: Address) -> dict[str, Any]:
        entity = invoice.legal_entity
        return {
            "code": invoice.invoice_id, "type": "SalesInvoice", "commit": False,
            "companyCode": self._companies.get(entity, entity),
            "date": invoice.issued_on.isoformat(), "customerCode": invoice.customer_id,
            "currencyCode": invoice.currency,
            "addresses": addresses_model(ship_to, self._ship_from.get(entity)),
            # the amount as a decimal string (exact; AvaTax reads it as a number)
            "lines": [{"number": line.line_id, "quantity": _number(line.quantity),
                       "amount": str(line.amount.amount), "taxCode": line.tax_code,
                       "itemCode": line.sku or line.plan_code or line.line_id,
                       "description": line.description[:2000]}
                      for line in invoice.lines],
        }


def avatax_json(response: httpx.Response) -> dict[str, Any]:
    """AvaTax's answer with numbers as Decimals."""
    try:
        body: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise UnavailableError("AvaTax answered something that is not JSON",
                               system=SYSTEM) from exc
    return body


def tax_result(line_ids: list[str], currency: str, body: dict[str, Any]) -> TaxResult:
    """AvaTax's transaction as one TaxLine per line id (its tax, summed rates, names)."""
    by_number = {str(line.get("lineNumber")): line for line in body.get("lines") or []}
    lines = []
    for line_id in line_ids:
        answered = by_number.get(line_id)
        if answered is None:
            raise UnavailableError(f"AvaTax's transaction {body.get('code')} has no line "
                                   f"{line_id}", system=SYSTEM)
        details = answered.get("details") or []
        names = sorted({str(d.get("jurisName")) for d in details if d.get("jurisName")})
        lines.append(TaxLine(
            line_id=line_id, jurisdiction=" / ".join(names) or "none",
            rate=sum((Decimal(d.get("rate") or 0) for d in details), Decimal(0)),
            taxable=Money.of(answered.get("taxableAmount") or 0, currency),
            amount=Money.of(answered.get("tax") or 0, currency)))
    return TaxResult(provider=PROVIDER, calculation_id=str(body.get("id") or body.get("code")),
                     lines=lines, total=total((t.amount for t in lines), currency),
                     calculated_at=dt.datetime.now(dt.UTC))


def _number(quantity: Decimal) -> int | float:
    return int(quantity) if quantity == quantity.to_integral_value() else float(quantity)


def address_model(address: Address) -> dict[str, Any]:
    return {"line1": address.line1, "line2": address.line2, "city": address.city,
            "region": address.region, "postalCode": address.postal_code,
            "country": address.country}


def addresses_model(ship_to: Address, ship_from: Address | None) -> dict[str, Any]:
    """A document's addresses: where it goes, and where the entity sells from when known
    (origin-sourced jurisdictions need it)."""
    addresses = {"shipTo": address_model(ship_to)}
    if ship_from is not None:
        addresses["shipFrom"] = address_model(ship_from)
    return addresses


async def check_avatax(client: httpx.AsyncClient) -> list[str]:
    """What is wrong with the AvaTax credentials: `GET /api/v2/utilities/ping` answers 200
    either way and says whether it authenticated them."""
    try:
        response = await call(client, "GET", "/api/v2/utilities/ping", system=SYSTEM,
                              correlation_id="check")
    except CashloopError as exc:
        return [f"AvaTax: {exc.message}"]
    if not response.json().get("authenticated"):
        return ["AvaTax: the account id and license key are not accepted "
                "(CASHLOOP_AVATAX_ACCOUNT_ID, CASHLOOP_AVATAX_LICENSE_KEY)"]
    return []
