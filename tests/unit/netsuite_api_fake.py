"""An in-memory NetSuite REST web services account for the NetSuite ERP connector's tests.

It answers the calls the connector makes the way NetSuite's REST documentation says
it does: records read by external id (`GET /services/rest/record/v1/{type}/eid:{id}`,
sublists as links unless `expandSubResources=true`), created by `POST` (204 with a
`Location` naming the internal id; a second record with the same external id refused),
upserted by `PUT .../eid:{id}`, updated by `PATCH .../{id}`; SuiteQL over accounting
periods and journal lines (`Prefer: transient`); errors as
`{"title", "status", "o:errorDetails"}`. Every request's OAuth 1.0a signature is checked
with oauthlib, an implementation independent of the connector's. Journals must balance,
name configured accounts, subsidiaries and currencies, carry amounts as JSON numbers, and
not be dated in a locked period.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

from adapters.erp.netsuite_auth import TbaCredentials, account_host, realm

CREDENTIALS = TbaCredentials(account_id="1234567_SB1", consumer_key="ck", consumer_secret="cs",
                             token_id="tk", token_secret="ts")
HOST = account_host(CREDENTIALS.account_id)
REST = "/services/rest/record/v1/"
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _error(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  429: "Too Many Requests"}.get(status, "Error"),
        "status": status, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]})


@dataclass
class FakeNetSuite:
    """One account: subsidiaries "1" (US01) and "3" (DE01), accounts numbered by code."""

    subsidiaries: set[str] = field(default_factory=lambda: {"1", "3"})
    currencies: set[str] = field(default_factory=lambda: {"1", "4"})
    currency_symbols: dict[str, str] = field(default_factory=lambda: {"1": "USD", "4": "EUR"})
    # internal id -> account code (the chart the journals post to)
    accounts: dict[str, str] = field(default_factory=dict)
    # YYYY-MM -> {"arlocked": "T"|"F", "alllocked": ..., "closed": ...}
    periods: dict[str, dict[str, str]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict))
    # statuses to answer the next requests with, before looking at them
    faults: list[int] = field(default_factory=list)
    # a create of this external id meets a record a concurrent request just created
    race: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    # with a seeded Random: that share of requests fail, half before being applied and
    # half after (the answer lost), as a busy account and a flaky network do
    chaos: random.Random | None = None
    chaos_rate: float = 0.0
    injected: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})
    nonces: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(101))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def by_external_id(self, record: str, external_id: str) -> dict[str, Any] | None:
        return next((r for r in self.records[record].values()
                     if r.get("externalId") == external_id), None)

    def balances(self) -> dict[str, Decimal]:
        """Debit minus credit per account code over every journal (reversals included)."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for je in self.records["journalEntry"].values():
            for ln in je["line"]["items"]:
                code = self.accounts[ln["account"]["id"]]
                totals[code] += ln.get("debit", Decimal(0)) - ln.get("credit", Decimal(0))
        return dict(totals)

    # --- requests -----------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if (refused := self._check_signature(request)) is not None:
            return refused
        if self.faults:
            status = self.faults.pop(0)
            return _error(status, "CONCURRENCY_LIMIT_EXCEEDED" if status == 429
                          else "UNEXPECTED_ERROR", "injected")
        if self.chaos is not None:
            draw = self.chaos.random()
            if draw < self.chaos_rate / 2:  # refused before it is applied
                self.injected["before"] += 1
                return _error(self.chaos.choice([429, 503]), "CONCURRENCY_LIMIT_EXCEEDED",
                              "injected")
            if draw < self.chaos_rate:  # applied, but the answer is lost on the way back
                self.injected["after"] += 1
                self._apply(request)
                return _error(503, "UNEXPECTED_ERROR", "injected after applying")
        return self._apply(request)

    def _apply(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/services/rest/query/v1/suiteql" and request.method == "POST":
            return self._suiteql(request)
        if not path.startswith(REST):
            return _error(404, "INVALID_URL", f"unknown path {path}")
        parts = path.removeprefix(REST).split("/")
        record, key = parts[0], (parts[1] if len(parts) > 1 else None)
        body = (json.loads(request.content, parse_float=Decimal, parse_int=Decimal)
                if request.content else {})
        if request.method == "POST" and key is None:
            return self._create(record, body)
        if key is None:
            return _error(405, "INVALID_REQUEST", "method not allowed")
        found = self._find(record, key)
        if request.method == "GET":
            if found is None:
                return _error(404, "NONEXISTENT_ID", f"Record {key} was not found.")
            expand = request.url.params.get("expandSubResources") == "true"
            return httpx.Response(200, content=_dumps(_shown(found, expand)))
        if request.method == "PUT" and key.startswith("eid:"):
            if found is None:
                return self._create(record, {**body, "externalId": key.removeprefix("eid:")})
            found.update(body)
            return self._located(record, found["id"])
        if request.method == "PATCH" and found is not None:
            found.update(body)
            return httpx.Response(204)
        return _error(404, "NONEXISTENT_ID", f"Record {key} was not found.")

    def _check_signature(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("Authorization", "")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if not header.startswith("OAuth ") or fields.get("realm") != realm(
                CREDENTIALS.account_id):
            return _error(401, "INVALID_LOGIN", "Invalid login attempt.")
        if fields["oauth_nonce"] in self.nonces:
            return _error(401, "INVALID_LOGIN", "Invalid login attempt. (nonce used)")
        self.nonces.add(fields["oauth_nonce"])
        c = CREDENTIALS
        expected = Client(c.consumer_key, client_secret=c.consumer_secret,
                          resource_owner_key=c.token_id, resource_owner_secret=c.token_secret,
                          signature_method=SIGNATURE_HMAC_SHA256, realm=realm(c.account_id),
                          nonce=fields["oauth_nonce"], timestamp=fields["oauth_timestamp"])
        _, signed, _ = expected.sign(str(request.url), request.method)
        want = dict(re.findall(r'(\w+)="([^"]*)"', signed["Authorization"]))
        if want["oauth_signature"] != fields.get("oauth_signature"):
            return _error(401, "INVALID_LOGIN", "Invalid login attempt. (signature)")
        return None

    def _find(self, record: str, key: str) -> dict[str, Any] | None:
        if key.startswith("eid:"):
            return self.by_external_id(record, key.removeprefix("eid:"))
        return self.records[record].get(key)

    def _located(self, record: str, internal: str) -> httpx.Response:
        return httpx.Response(204, headers={"Location": f"{HOST}{REST}{record}/{internal}"})

    def _create(self, record: str, body: dict[str, Any]) -> httpx.Response:
        external = str(body.get("externalId", ""))
        if not _EXTERNAL_ID.match(external):
            return _error(400, "INVALID_FLD_VALUE", f"Invalid externalId {external!r}")
        if external in self.race:
            self.race.discard(external)
            self._store(record, dict(body))
        if self.by_external_id(record, external) is not None:
            return _error(400, "DUP_RCRD", "A record with the same external ID already exists.")
        if record == "journalEntry" and (refused := self._check_journal(body)) is not None:
            return refused
        if record == "customer" and body.get("subsidiary", {}).get("id") not in self.subsidiaries:
            return _error(400, "INVALID_FLD_VALUE", "Invalid subsidiary reference key.")
        return self._located(record, self._store(record, dict(body)))

    def _store(self, record: str, body: dict[str, Any]) -> str:
        internal = str(next(self._ids))
        self.records[record][internal] = {**body, "id": internal}
        return internal

    def _check_journal(self, body: dict[str, Any]) -> httpx.Response | None:
        if body.get("subsidiary", {}).get("id") not in self.subsidiaries:
            return _error(400, "INVALID_FLD_VALUE", "Invalid subsidiary reference key.")
        if body.get("currency", {}).get("id") not in self.currencies:
            return _error(400, "INVALID_FLD_VALUE", "Invalid currency reference key.")
        period = body["tranDate"][:7]
        if "T" in self.periods.get(period, {}).values():
            return _error(400, "USER_ERROR", "The accounting period is locked.")
        debit = credit = Decimal(0)
        for ln in body["line"]["items"]:
            if ln["account"]["id"] not in self.accounts:
                return _error(400, "INVALID_FLD_VALUE", "Invalid account reference key.")
            for side in ("debit", "credit"):
                if side in ln and not isinstance(ln[side], Decimal):
                    return _error(400, "INVALID_FLD_VALUE", f"Invalid value for {side}.")
            debit += ln.get("debit", Decimal(0))
            credit += ln.get("credit", Decimal(0))
            if "entity" in ln and ln["entity"]["id"] not in self.records["customer"]:
                return _error(400, "INVALID_FLD_VALUE", "Invalid entity reference key.")
        if debit != credit:
            return _error(400, "USER_ERROR", "The transaction is out of balance.")
        return None

    def _suiteql(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Prefer") != "transient":
            return _error(400, "INVALID_HEADER", "SuiteQL needs the Prefer: transient header")
        query = json.loads(request.content)["q"]
        wanted = set(re.findall(r"\d+", query.split(" IN ", 1)[1])) if " IN " in query else set()
        if "FROM accountingperiod" in query:
            items = [{"links": [], "period": p, **{k: flags.get(k, "F") for k in
                                                    ("arlocked", "alllocked", "closed")}}
                     for p, flags in sorted(self.periods.items())]
        elif "FROM transaction t " in query:
            items = self._journal_rows(int(re.findall(r"t\.id > (\d+)", query)[0]))
        elif "FROM account WHERE" in query:
            items = [{"links": [], "id": i, "acctnumber": self.accounts[i]}
                     for i in sorted(wanted & set(self.accounts))]
        elif "FROM subsidiary WHERE" in query:
            items = [{"links": [], "id": i, "name": f"Subsidiary {i}"}
                     for i in sorted(wanted & self.subsidiaries)]
        elif "FROM currency WHERE" in query:
            items = [{"links": [], "id": i, "symbol": self.currency_symbols[i]}
                     for i in sorted(wanted & set(self.currency_symbols))]
        else:
            return _error(400, "INVALID_PARAMETER", f"this fake knows no query like {query}")
        limit, offset = (int(request.url.params.get(k, d))
                         for k, d in (("limit", 1000), ("offset", 0)))
        page = items[offset:offset + limit]
        return httpx.Response(200, json={"links": [], "count": len(page), "offset": offset,
                                         "hasMore": offset + limit < len(items),
                                         "totalResults": len(items), "items": page})

    def _journal_rows(self, after: int) -> list[dict[str, Any]]:
        """The journals query's rows: each line with its primary-book impact, the base
        amount rounded to the cent from the journal's exchange rate."""
        rows = []
        for internal, je in sorted(self.records["journalEntry"].items(), key=lambda r: int(r[0])):
            if int(internal) <= after or "[cashloop " not in je.get("memo", ""):
                continue
            rate = je.get("exchangeRate", Decimal(1))
            for n, ln in enumerate(je["line"]["items"], start=1):
                customer = self.records["customer"].get(ln.get("entity", {}).get("id", ""))
                debit, credit = ln.get("debit"), ln.get("credit")
                rows.append({
                    "links": [], "journal": internal, "externalid": je["externalId"],
                    "trandate": je["tranDate"], "memo": je["memo"],
                    "currency": je["currency"]["id"], "exchangerate": str(rate),
                    "line": str(n), "subsidiary": je["subsidiary"]["id"],
                    "account": ln["account"]["id"],
                    "debitforeignamount": str(debit) if debit else None,
                    "creditforeignamount": str(credit) if credit else None,
                    "debit": str(_cent(debit * rate)) if debit else None,
                    "credit": str(_cent(credit * rate)) if credit else None,
                    "customer": customer and customer["externalId"],
                    "linememo": ln.get("memo")})
        return rows

    def lock(self, period: str, flag: str = "arlocked") -> None:
        self.periods.setdefault(period, {})[flag] = "T"


def _cent(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _shown(record: dict[str, Any], expand: bool) -> dict[str, Any]:
    shown = {**record, "links": [{"rel": "self", "href": f"{HOST}{REST}{record['id']}"}]}
    if "line" in record and not expand:
        shown["line"] = {"links": [{"rel": "self", "href": "…/line"}]}
    return shown


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, default=lambda d: float(d) if isinstance(d, Decimal) else str(d)
                      ).encode()
