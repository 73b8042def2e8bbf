"""Customer accounts with their legal entity and bill-to / sold-to parties."""

from __future__ import annotations

from .base import Canonical, CountryCode, EntityCode, Id
from .money import CurrencyCode


class Address(Canonical):
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    region: str | None = None
    country: CountryCode


class Party(Canonical):
    """A bill-to or sold-to party."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: Address


class CustomerAccount(Canonical):
    """A customer as billing and CRM know it; ERP keys are derived from `customer_id`."""

    customer_id: Id
    name: str
    legal_entity: EntityCode
    country: CountryCode
    currency: CurrencyCode
    bill_to: Party
    sold_to: Party | None = None
    tax_id: str | None = None
    crm_account_id: str | None = None
