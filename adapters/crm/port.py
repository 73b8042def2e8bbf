"""The CRM port: customer master and legal-entity mapping, renewal intent, notices."""

from __future__ import annotations

from typing import Protocol

from canonical.base import Canonical
from canonical.customer import CustomerAccount


class CustomerValidation(Canonical):
    """CRM's verdict on a customer: its account id and the legal entity that serves it."""

    customer_id: str
    crm_account_id: str
    legal_entity: str
    valid: bool
    reasons: list[str] = []


class CrmPort(Protocol):
    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        """Raises NotFoundError/InvalidDataError when the customer cannot be served."""
        ...
