"""An in-memory Salesforce org for the Salesforce CRM connector's tests (an httpx transport).

It answers as Salesforce's REST API documents: the OAuth 2.0 client-credentials token
request (`POST /services/oauth2/token`, form body), records upserted by an external-id
field (`PATCH .../sobjects/{type}/{field}/{value}`: 201 with the new id, 200 when it
updated one), read by it (`GET` with `fields`), errors as a list of
`{"message", "errorCode"}`, and 401 `INVALID_SESSION_ID` for a token it has expired.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

DOMAIN = "https://cashloop-demo.my.salesforce.com"
CLIENT_ID, CLIENT_SECRET = "3MVG9cashloop", "secret-cashloop"
PREFIX = "/services/data/v62.0/sobjects/"
EXTERNAL_IDS = {"Account": "Cashloop_Customer_Id__c", "Task": "Cashloop_Notice_Id__c"}
ID_PREFIX = {"Account": "001", "Task": "00T"}


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json=[{"message": message, "errorCode": code}])


@dataclass
class FakeSalesforce:
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"Account": {}, "Task": {}})
    # the fields each object has (describe); the custom ones docs/connectors.md asks for
    fields: dict[str, list[str]] = field(default_factory=lambda: {
        "Account": ["Id", "Name", "BillingCountry", "LastModifiedDate",
                    "Cashloop_Customer_Id__c", "Cashloop_Legal_Entity__c",
                    "Cashloop_Blocked__c", "Cashloop_Renewal_Opt_Out__c",
                    "Cashloop_Renewal_Plan_Changes__c"],
        "Task": ["Id", "Subject", "WhatId", "Status", "Description", "Cashloop_Notice_Id__c"]})
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def expire_sessions(self) -> None:
        self.valid_tokens.clear()

    def by_external_id(self, kind: str, value: str) -> dict[str, Any] | None:
        return next((r for r in self.records[kind].values()
                     if r.get(EXTERNAL_IDS[kind]) == value), None)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/services/oauth2/token":
            return self._token(request)
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not path.startswith(PREFIX):
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        parts = path.removeprefix(PREFIX).split("/")
        if len(parts) == 2 and parts[1] == "describe" and parts[0] in self.fields:
            return httpx.Response(200, json={"name": parts[0], "fields": [
                {"name": n, "externalId": n == EXTERNAL_IDS[parts[0]]}
                for n in self.fields[parts[0]]]})
        if len(parts) != 3 or parts[0] not in EXTERNAL_IDS or parts[1] != EXTERNAL_IDS[parts[0]]:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        kind, value = parts[0], parts[2]
        found = self.by_external_id(kind, value)
        if request.method == "GET":
            if found is None:
                return _error(404, "NOT_FOUND", f"Provided external ID field does not exist "
                              f"or is not accessible: {value}")
            wanted = request.url.params.get("fields")
            shown = ({k: found.get(k) for k in wanted.split(",")} if wanted else found)
            return httpx.Response(200, json={"attributes": {"type": kind}, **shown})
        if request.method != "PATCH":
            return _error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
        body = json.loads(request.content)
        if EXTERNAL_IDS[kind] in body:
            return _error(400, "INVALID_FIELD", "the external id is in the URL, not the body")
        if kind == "Task" and body.get("WhatId") not in self.records["Account"]:
            return _error(400, "MALFORMED_ID", "Related To ID: id value of incorrect type")
        if found is not None:
            found.update(body)
            return httpx.Response(200, json={"id": found["Id"], "success": True, "errors": [],
                                             "created": False})
        record_id = f"{ID_PREFIX[kind]}5g00000{next(self._ids):06d}AAA"
        self.records[kind][record_id] = {
            "Id": record_id, EXTERNAL_IDS[kind]: value, "LastModifiedDate":
            "2026-12-07T20:16:30.000+0000", **body}
        return httpx.Response(201, json={"id": record_id, "success": True, "errors": [],
                                         "created": True})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if form != {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET}:
            return httpx.Response(400, json={"error": "invalid_client",
                                             "error_description": "invalid client credentials"})
        self.tokens_issued += 1
        token = f"00Dcashloop!token{self.tokens_issued}"
        self.valid_tokens.add(token)
        return httpx.Response(200, json={"access_token": token, "instance_url": DOMAIN,
                                         "token_type": "Bearer", "issued_at": "1770000000000",
                                         "signature": "sig"})
