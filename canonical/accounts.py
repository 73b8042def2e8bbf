"""Charts of accounts: the posting rules name roles, configuration names the accounts."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field

from .base import Canonical, EntityCode
from .money import CurrencyCode


class AccountRole(StrEnum):
    ACCOUNTS_RECEIVABLE = "accounts_receivable"
    CASH_CLEARING = "cash_clearing"
    DEFERRED_REVENUE = "deferred_revenue"
    TAX_PAYABLE = "tax_payable"
    SUBSCRIPTION_REVENUE = "subscription_revenue"
    USAGE_REVENUE = "usage_revenue"
    PAYMENT_FEES = "payment_fees"
    BAD_DEBT_EXPENSE = "bad_debt_expense"
    FX_GAIN_LOSS = "fx_gain_loss"


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"


ROLE_TYPES: dict[AccountRole, AccountType] = {
    AccountRole.ACCOUNTS_RECEIVABLE: AccountType.ASSET,
    AccountRole.CASH_CLEARING: AccountType.ASSET,
    AccountRole.DEFERRED_REVENUE: AccountType.LIABILITY,
    AccountRole.TAX_PAYABLE: AccountType.LIABILITY,
    AccountRole.SUBSCRIPTION_REVENUE: AccountType.REVENUE,
    AccountRole.USAGE_REVENUE: AccountType.REVENUE,
    AccountRole.PAYMENT_FEES: AccountType.EXPENSE,
    AccountRole.BAD_DEBT_EXPENSE: AccountType.EXPENSE,
    AccountRole.FX_GAIN_LOSS: AccountType.EXPENSE,
}


class Account(Canonical):
    code: str
    name: str


class ChartOfAccounts(Canonical):
    """One legal entity's accounts by role, and its functional currency."""

    legal_entity: EntityCode
    functional_currency: CurrencyCode
    accounts: dict[AccountRole, Account] = Field(min_length=len(AccountRole))

    def code(self, role: AccountRole) -> str:
        return self.accounts[role].code

    def account_type(self, code: str) -> AccountType:
        for role, account in self.accounts.items():
            if account.code == code:
                return ROLE_TYPES[role]
        raise KeyError(f"{self.legal_entity} has no account {code}")


class LegalEntity(Canonical):
    """A legal entity: the countries it serves, its currency and its chart of accounts."""

    code: EntityCode
    name: str
    countries: list[str]
    chart: ChartOfAccounts


def serving_entity(entities: Mapping[str, LegalEntity], country: str) -> LegalEntity | None:
    """The legal entity that serves customers in `country`, if one does."""
    return next((e for e in entities.values() if country in e.countries), None)


def serving_problem(entities: Mapping[str, LegalEntity], legal_entity: str, country: str,
                    customer_id: str) -> tuple[str, str] | None:
    """Why `legal_entity` cannot serve a customer in `country`, as (code, message); None
    when it can. The CRM's check before an account is taken (sandbox and vendors)."""
    entity = entities.get(legal_entity)
    if entity is None:
        return "unknown_legal_entity", f"unknown legal entity {legal_entity}"
    if country in entity.countries:
        return None
    serving = serving_entity(entities, country)
    where = (f"country {country} is served by {serving.code} ({serving.name})"
             if serving else f"no legal entity serves country {country}")
    return "wrong_legal_entity", f"{customer_id}: {where}, not {legal_entity}"
