"""The CRM port over Salesforce (REST API): accounts by Cashloop's customer id, notices as tasks.

An account is keyed by the external-id field `Cashloop_Customer_Id__c` and upserted
(`PATCH /services/data/vXX.X/sobjects/Account/Cashloop_Customer_Id__c/{id}`), so a
validation retried or repeated updates the same account; the legal-entity check is the
one the sandbox CRM makes (canonical.accounts.serving_problem), and an account a
salesperson flagged `Cashloop_Blocked__c` refuses activation. Renewal intent is read from
`Cashloop_Renewal_Opt_Out__c` and `Cashloop_Renewal_Plan_Changes__c` (JSON). A notice is
a completed Task on the account, upserted by `Cashloop_Notice_Id__c`: Salesforce answers
201 when it created it and 200/204 when it existed, which is the port's `duplicate`.
Authentication is OAuth 2.0's client-credentials flow of a connected app; the token is
fetched on first use and again when Salesforce answers 401 (an expired session).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from adapters.http import call
from canonical.accounts import LegalEntity, serving_problem
from canonical.customer import CustomerAccount
from canonical.errors import CashloopError, InvalidDataError, RejectedError, UnavailableError

from .port import CrmAccount, CustomerNotice, CustomerValidation

SYSTEM = "crm"
API_VERSION = "v62.0"
CUSTOMER_ID = "Cashloop_Customer_Id__c"
NOTICE_ID = "Cashloop_Notice_Id__c"
ACCOUNT_FIELDS = ("Id", "Name", "BillingCountry", CUSTOMER_ID, "Cashloop_Legal_Entity__c",
                  "Cashloop_Blocked__c", "Cashloop_Renewal_Opt_Out__c",
                  "Cashloop_Renewal_Plan_Changes__c", "LastModifiedDate")


class ClientCredentials(httpx.Auth):
    """OAuth 2.0 client credentials against the org's My Domain, refreshed on a 401."""

    requires_response_body = True

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._form = {"grant_type": "client_credentials", "client_id": client_id,
                      "client_secret": client_secret}
        self._token: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                              None]:
        if self._token is None:
            self._take((yield self._token_request(request)))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request(request)))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request("POST", request.url.copy_with(path="/services/oauth2/token",
                                                           query=None), data=self._form)

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            response.read()
            raise RejectedError(f"Salesforce refused the connected app's credentials "
                                f"({response.status_code}): {response.text[:200]}",
                                system=SYSTEM)
        self._token = str(response.json()["access_token"])


def salesforce_client(my_domain: str, client_id: str, client_secret: str, *,
                      timeout: httpx.Timeout | float = 30.0,
                      transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client for one org (https://{domain}.my.salesforce.com)."""
    return httpx.AsyncClient(base_url=my_domain, timeout=timeout, transport=transport,
                             auth=ClientCredentials(client_id, client_secret))


class SalesforceCrmAdapter:
    """`CrmPort` for a Salesforce org.

    Args:
        client: from `salesforce_client`.
        entities: the legal entities (which countries each serves).
    """

    def __init__(self, client: httpx.AsyncClient, entities: Mapping[str, LegalEntity]) -> None:
        self._client = client
        self._entities = entities
        self._account_ids: dict[str, str] = {}  # customer id -> Salesforce Account Id

    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        """InvalidDataError: wrong/unknown legal entity; RejectedError: account blocked."""
        c = customer
        problem = serving_problem(self._entities, c.legal_entity, c.country, c.customer_id)
        if problem is not None:
            raise InvalidDataError(f"{problem[0]}: {problem[1]}", system=SYSTEM)
        await call(self._client, "PATCH", self._account_path(c.customer_id), system=SYSTEM,
                   correlation_id=correlation_id,
                   json={"Name": c.name[:255], "BillingCountry": c.country,
                         "Cashloop_Legal_Entity__c": c.legal_entity})
        account = await self._account(c.customer_id, correlation_id)
        if account.get("Cashloop_Blocked__c"):
            raise RejectedError(f"account {c.customer_id} is blocked in Salesforce",
                                system=SYSTEM)
        return CustomerValidation(customer_id=c.customer_id, crm_account_id=str(account["Id"]),
                                  legal_entity=c.legal_entity, valid=True)

    async def get_account(self, customer_id: str, *, correlation_id: str) -> CrmAccount:
        """NotFoundError if Salesforce has no account with this customer id."""
        a = await self._account(customer_id, correlation_id)
        raw_changes = a.get("Cashloop_Renewal_Plan_Changes__c")
        try:
            changes = json.loads(raw_changes) if raw_changes else None
        except ValueError as exc:
            raise InvalidDataError(f"account {customer_id}: Cashloop_Renewal_Plan_Changes__c "
                                   "is not JSON", system=SYSTEM) from exc
        return CrmAccount(customer_id=customer_id, crm_account_id=str(a["Id"]),
                          name=a.get("Name"), legal_entity=a.get("Cashloop_Legal_Entity__c"),
                          country=a.get("BillingCountry"),
                          blocked=bool(a.get("Cashloop_Blocked__c")),
                          renewal_opt_out=bool(a.get("Cashloop_Renewal_Opt_Out__c")),
                          renewal_plan_changes=changes,
                          updated_at=_modified(a.get("LastModifiedDate")))

    async def send_notice(self, notice_id: str, customer_id: str, kind: str, *,
                          correlation_id: str, subscription_id: str | None = None,
                          detail: Any = None) -> CustomerNotice:
        """A completed Task on the customer's account, once per notice id."""
        account_id = self._account_ids.get(customer_id) or str(
            (await self._account(customer_id, correlation_id))["Id"])
        about = f" ({subscription_id})" if subscription_id else ""
        response = await call(
            self._client, "PATCH",
            f"{_sobjects('Task')}/{NOTICE_ID}/{quote(notice_id, safe='')}", system=SYSTEM,
            correlation_id=correlation_id,
            json={"Subject": f"Cashloop: {kind}{about}"[:255], "WhatId": account_id,
                  "Status": "Completed", "Priority": "Normal",
                  "Description": json.dumps(detail, default=str)[:32000]})
        if response.status_code not in (200, 201, 204):
            raise UnavailableError(f"Salesforce answered {response.status_code} to a task "
                                   "upsert", system=SYSTEM)
        return CustomerNotice(notice_id=notice_id, customer_id=customer_id,
                              subscription_id=subscription_id, kind=kind, detail=detail,
                              duplicate=response.status_code != 201)

    def _account_path(self, customer_id: str) -> str:
        return f"{_sobjects('Account')}/{CUSTOMER_ID}/{quote(customer_id, safe='')}"

    async def _account(self, customer_id: str, cid: str) -> dict[str, Any]:
        response = await call(self._client, "GET", self._account_path(customer_id),
                              system=SYSTEM, correlation_id=cid,
                              params={"fields": ",".join(ACCOUNT_FIELDS)})
        account: dict[str, Any] = response.json()
        self._account_ids[customer_id] = str(account["Id"])
        return account


def _sobjects(kind: str) -> str:
    return f"/services/data/{API_VERSION}/sobjects/{kind}"


def _modified(value: Any) -> dt.datetime | None:
    # Salesforce writes 2026-12-07T20:16:30.000+0000
    if not isinstance(value, str):
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


# The fields Cashloop reads and writes, by object (docs/connectors.md, *Salesforce*).
REQUIRED_FIELDS = {"Account": [CUSTOMER_ID, "Cashloop_Legal_Entity__c", "Cashloop_Blocked__c",
                               "Cashloop_Renewal_Opt_Out__c",
                               "Cashloop_Renewal_Plan_Changes__c"],
                   "Task": [NOTICE_ID]}


async def check_salesforce(client: httpx.AsyncClient) -> list[str]:
    """What is missing in the org: the connected app's access, the custom fields."""
    problems = []
    for kind, fields in REQUIRED_FIELDS.items():
        try:
            response = await call(client, "GET", f"{_sobjects(kind)}/describe",
                                  system=SYSTEM, correlation_id="check")
        except CashloopError as exc:
            return [f"Salesforce: {exc.message}"]
        described = {f.get("name"): f for f in response.json().get("fields", [])}
        for name in fields:
            if name not in described:
                problems.append(f"Salesforce: {kind} has no field {name}")
            elif name in (CUSTOMER_ID, NOTICE_ID) and not described[name].get("externalId"):
                problems.append(f"Salesforce: {kind}.{name} is not an External ID field")
    return problems
