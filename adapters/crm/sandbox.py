"""The CRM port over the sandbox CRM's HTTP API (plus its account and notice APIs)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from adapters.http import call
from adapters.sandbox.client import parse
from canonical.customer import CustomerAccount

from .port import CrmAccount, CustomerNotice, CustomerValidation

SYSTEM = "crm"


class _Notices(BaseModel):
    notices: list[CustomerNotice]


class SandboxCrmAdapter:
    """`CrmPort` for the sandbox CRM.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the CRM's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        """InvalidDataError: wrong/unknown legal entity; RejectedError: account blocked."""
        response = await call(self._client, "POST", "/v1/customers/validate", system=SYSTEM,
                              correlation_id=correlation_id,
                              json={"customer": customer.model_dump(mode="json")})
        return parse(response, CustomerValidation, SYSTEM)

    async def get_account(self, customer_id: str, *, correlation_id: str) -> CrmAccount:
        """The account with its flags; NotFoundError if the CRM never saw the customer."""
        response = await call(self._client, "GET", f"/v1/accounts/{quote(customer_id, safe='')}",
                              system=SYSTEM, correlation_id=correlation_id)
        return parse(response, CrmAccount, SYSTEM)

    async def update_account(self, customer_id: str, *, correlation_id: str,
                             **fields: Any) -> CrmAccount:
        """Seed or change blocked, crm_account_id, renewal_opt_out, renewal_plan_changes."""
        response = await call(self._client, "PUT", f"/v1/accounts/{quote(customer_id, safe='')}",
                              system=SYSTEM, correlation_id=correlation_id, json=fields)
        return parse(response, CrmAccount, SYSTEM)

    async def send_notice(self, notice_id: str, customer_id: str, kind: str, *,
                          correlation_id: str, subscription_id: str | None = None,
                          detail: Any = None) -> CustomerNotice:
        """Send a notice once per notice id (a repeat answers duplicate)."""
        response = await call(self._client, "POST", "/v1/notices", system=SYSTEM,
                              correlation_id=correlation_id,
                              json={"notice_id": notice_id, "customer_id": customer_id,
                                    "subscription_id": subscription_id, "kind": kind,
                                    "detail": detail})
        return parse(response, CustomerNotice, SYSTEM)

    async def notices(self, *, correlation_id: str, subscription_id: str | None = None,
                      customer_id: str | None = None) -> list[CustomerNotice]:
        """Notices sent, oldest first."""
        params = {k: v for k, v in {"subscription_id": subscription_id,
                                    "customer_id": customer_id}.items() if v}
        response = await call(self._client, "GET", "/v1/notices", system=SYSTEM,
                              correlation_id=correlation_id, params=params)
        return parse(response, _Notices, SYSTEM).notices
