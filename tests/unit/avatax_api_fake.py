"""An in-memory AvaTax REST v2 for the Avalara tax connector's tests (an httpx transport).

It answers `POST /api/v2/transactions/createoradjust` (and `/create`: a `SalesOrder` is
calculated and not kept) as AvaTax documents it: HTTP Basic
auth, a `createTransactionModel`, one transaction per company and code (a second call
with the code adjusts it: version + 1), amounts as JSON numbers, per line a detail per
jurisdiction (with `$include=Details`), 400 `{"error": {...}}` for an address it cannot
place; a transaction read, committed or voided by company and code
(`/api/v2/companies/{company}/transactions/{code}[/commit|/void]`), a committed or voided
one refusing adjustment, and a line's `TaxAmount` override taken as its tax (returns).
Rates by ship-to region are this fake's own, not Avalara's.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

ACCOUNT, LICENSE = "2000123456", "LICENSEKEY0001"
# region -> [(jurisdiction, type, rate)]
JURISDICTIONS: dict[str, list[tuple[str, str, Decimal]]] = {
    "WA": [("WASHINGTON", "STA", Decimal("0.065")), ("KING", "CTY", Decimal("0")),
           ("SEATTLE", "CIT", Decimal("0.0385"))],
    "CA": [("CALIFORNIA", "STA", Decimal("0.06")), ("SAN FRANCISCO", "CTY", Decimal("0.0025")),
           ("SAN FRANCISCO COUNTY DISTRICT TAX SP", "STJ", Decimal("0.02625"))],
    "OR": [],  # no sales tax
}


@dataclass
class FakeAvaTax:
    transactions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    jurisdictions: dict[str, list[tuple[str, str, Decimal]]] = field(
        default_factory=lambda: dict(JURISDICTIONS))
    requests: list[httpx.Request] = field(default_factory=list)
    quotes: int = 0  # SalesOrders calculated (not kept)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        token = base64.b64encode(f"{ACCOUNT}:{LICENSE}".encode()).decode()
        authenticated = request.headers.get("Authorization") == f"Basic {token}"
        if request.url.path == "/api/v2/utilities/ping":  # answers unauthenticated too
            return httpx.Response(200, json={
                "version": "25.11.0", "authenticated": authenticated,
                "authenticationType": "AccountIdLicenseKey" if authenticated else "None"})
        if not authenticated:
            return _error(401, "AuthenticationException", "Authentication failed.")
        if request.url.path.startswith("/api/v2/companies/"):
            return self._company_call(request)
        if (request.method, request.url.path) == ("POST", "/api/v2/transactions/create"):
            return self._create(request, json.loads(request.content))
        if (request.method, request.url.path) != ("POST", "/api/v2/transactions/createoradjust"):
            return _error(404, "EntityNotFoundError", "Not found.")
        return self._create(request, json.loads(request.content)["createTransactionModel"])

    def _create(self, request: httpx.Request, model: dict[str, Any]) -> httpx.Response:
        """A transaction calculated; kept by company and code unless it is a SalesOrder."""
        ship_to = model["addresses"]["shipTo"]
        if ship_to.get("country") != "US" or ship_to.get("region") not in self.jurisdictions:
            return _error(400, "InvalidAddress", "The address value was incomplete.",
                          target="IncorrectData")
        key = (model["companyCode"], model.get("code") or f"order-{self.quotes}")
        known = self.transactions.get(key)
        version = known["version"] + 1 if known else 1
        if known is not None and known["status"] in ("Committed", "Cancelled") and not (
                known["status"] == "Committed" and model.get("commit")):
            return _error(400, "CannotModifyLockedTransaction",
                          f"The transaction {model['code']} is {known['status']}.")
        lines = [_line(line, self.jurisdictions[ship_to["region"]]) for line in model["lines"]]
        include = request.url.params.get("$include", "")
        transaction = {
            "id": known["id"] if known else 80001 + len(self.transactions),
            "code": key[1], "companyId": 12345, "date": model["date"],
            "status": "Committed" if model.get("commit") else "Saved", "type": model["type"],
            "currencyCode": model["currencyCode"], "customerCode": model["customerCode"],
            "version": version, "referenceCode": model.get("referenceCode"),
            "taxOverride": model.get("taxOverride"),
            "totalAmount": float(sum(Decimal(ln["amount"]) for ln in model["lines"])),
            "totalTax": float(sum(ln["tax"] for ln in lines)),
            "lines": [{**ln, "tax": float(ln["tax"]),
                       "details": ln["details"] if "Details" in include else None}
                      for ln in lines]}
        if model["type"] == "SalesOrder":  # calculated, never kept
            self.quotes += 1
            return httpx.Response(201, json=transaction)
        self.transactions[key] = transaction
        return httpx.Response(201 if version == 1 else 200, json=transaction)


    def _company_call(self, request: httpx.Request) -> httpx.Response:
        """GET a transaction; POST its /commit ({"commit": true}) or /void ({"code"})."""
        parts = request.url.path.removeprefix("/api/v2/companies/").split("/")
        if len(parts) not in (3, 4) or parts[1] != "transactions":
            return _error(404, "EntityNotFoundError", "Not found.")
        found = self.transactions.get((parts[0], parts[2]))
        if found is None:
            return _error(404, "EntityNotFoundError",
                          f"Transaction {parts[2]} of company {parts[0]} not found.")
        action = parts[3] if len(parts) == 4 else None
        body = json.loads(request.content) if request.content else {}
        if request.method == "GET" and action is None:
            return httpx.Response(200, json=found)
        if request.method == "POST" and action == "commit" and body == {"commit": True}:
            if found["status"] == "Cancelled":
                return _error(400, "CannotModifyLockedTransaction", "It is voided.")
            found["status"] = "Committed"
            return httpx.Response(200, json=found)
        if request.method == "POST" and action == "void" and body.get("code") in (
                "DocVoided", "DocDeleted", "PostFailed", "AdjustmentCancelled"):
            found["status"] = "Cancelled"
            return httpx.Response(200, json=found)
        return _error(400, "InvalidRequest", "Unsupported call.")


def _line(line: dict[str, Any], jurisdictions: list[tuple[str, str, Decimal]]) -> dict[str, Any]:
    amount = Decimal(line["amount"])
    override = line.get("taxOverride")
    if override is not None and override.get("type") == "TaxAmount":
        # the tax is what the caller says (returns), spread on the first jurisdiction
        tax = Decimal(override["taxAmount"])
        return {"lineNumber": line["number"], "itemCode": line.get("itemCode"),
                "lineAmount": float(amount), "taxableAmount": float(amount), "tax": tax,
                "taxCode": line.get("taxCode"), "taxOverride": override,
                "details": [{"jurisName": n, "jurisType": k, "rate": float(r),
                             "taxableAmount": float(amount),
                             "tax": float(tax) if i == 0 else 0.0}
                            for i, (n, k, r) in enumerate(jurisdictions)]}
    details = [{"jurisName": name, "jurisType": kind, "rate": float(rate),
                "taxableAmount": float(amount),
                "tax": float((amount * rate).quantize(Decimal("0.01"), ROUND_HALF_UP))}
               for name, kind, rate in jurisdictions]
    tax = sum((Decimal(str(d["tax"])) for d in details), Decimal(0))
    return {"lineNumber": line["number"], "itemCode": line.get("itemCode"),
            "lineAmount": float(amount), "taxableAmount": float(amount), "tax": tax,
            "taxCode": line.get("taxCode"), "details": details}


def _error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})
