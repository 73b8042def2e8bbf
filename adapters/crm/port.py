"""The CRM port: customer master and legal-entity mapping, renewal intent, notices."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from canonical.base import Canonical
from canonical.customer import CustomerAccount


class CustomerValidation(Canonical):
    """CRM's verdict on a customer: its account id and the legal entity that serves it."""

    customer_id: str
    crm_account_id: str
    legal_entity: str
    valid: bool
    reasons: list[str] = []


class CrmAccount(BaseModel):
    """A CRM account with its renewal intent (`renewal_plan_changes`: see canonical.renewal)."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    crm_account_id: str
    name: str | None = None
    legal_entity: str | None = None
    country: str | None = None
    blocked: bool = False
    renewal_opt_out: bool = False
    renewal_plan_changes: dict[str, Any] | None = None
    updated_at: dt.datetime | None = None


class CustomerNotice(BaseModel):
    """A notice sent to a customer; `duplicate` when the notice id was already sent."""

    model_config = ConfigDict(frozen=True)

    notice_id: str
    customer_id: str
    subscription_id: str | None = None
    kind: str
    detail: Any = None
    created_at: dt.datetime | None = None
    duplicate: bool = False


class CrmPort(Protocol):
    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        """Raises NotFoundError/InvalidDataError when the customer cannot be served."""
        ...

    async def get_account(self, customer_id: str, *, correlation_id: str) -> CrmAccount:
        """The account with its renewal intent; NotFoundError if CRM never saw the customer."""
        ...

    async def send_notice(self, notice_id: str, customer_id: str, kind: str, *,
                          correlation_id: str, subscription_id: str | None = None,
                          detail: Any = None) -> CustomerNotice:
        """Send a notice once per notice id (a repeat answers duplicate)."""
        ...
