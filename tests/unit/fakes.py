"""In-memory doubles of the ports and a hand-moved clock, for unit tests only (real systems are
in tests/integration)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from adapters.billing.port import UpstreamClose
from adapters.crm.port import CrmAccount, CustomerNotice, CustomerValidation
from adapters.payments.port import CollectionRequest, CollectionResult, CollectionStatus
from adapters.provisioning.port import EntitlementChange, Entitlements, EntitlementStatus
from canonical.billing import Invoice, TaxLine, TaxResult
from canonical.customer import Address, CustomerAccount
from canonical.errors import CashloopError, NotFoundError, UnavailableError
from canonical.fx import ExchangeRate
from canonical.money import Money, round_amount, total
from canonical.payment import Payment
from tests.unit.fake_erp import FakeErp

__all__ = ["Clock", "FakeBilling", "FakeCrm", "FakeErp", "FakePayments", "FakeProvisioning",
           "FakeRates", "FakeTax"]


class Clock:
    """A monotonic clock the test moves by hand (`clock.now += seconds`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeCrm:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_with: CashloopError | None = None
        self.unavailable_first = 0  # calls answered "unavailable" (transient) before any
        self.accounts: dict[str, CrmAccount] = {}
        self.notices: list[CustomerNotice] = []

    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        self.calls.append(customer.customer_id)
        if self.fail_with:
            raise self.fail_with
        if len(self.calls) <= self.unavailable_first:
            raise UnavailableError("crm down", system="crm")
        self.accounts.setdefault(customer.customer_id, CrmAccount(
            customer_id=customer.customer_id, crm_account_id=f"CRM-{customer.customer_id}"))
        return CustomerValidation(customer_id=customer.customer_id,
                                  crm_account_id=f"CRM-{customer.customer_id}",
                                  legal_entity=customer.legal_entity, valid=True)

    def set_account(self, customer_id: str, **fields: Any) -> None:
        """Seed renewal_opt_out / renewal_plan_changes."""
        current = self.accounts.get(customer_id) or CrmAccount(
            customer_id=customer_id, crm_account_id=f"CRM-{customer_id}")
        self.accounts[customer_id] = current.model_copy(update=fields)

    async def get_account(self, customer_id: str, *, correlation_id: str) -> CrmAccount:
        if customer_id not in self.accounts:
            raise NotFoundError(f"no account {customer_id}", system="crm")
        return self.accounts[customer_id]

    async def send_notice(self, notice_id: str, customer_id: str, kind: str, *,
                          correlation_id: str, subscription_id: str | None = None,
                          detail: Any = None) -> CustomerNotice:
        for n in self.notices:
            if n.notice_id == notice_id:
                return n.model_copy(update={"duplicate": True})
        notice = CustomerNotice(notice_id=notice_id, customer_id=customer_id,
                                subscription_id=subscription_id, kind=kind, detail=detail)
        self.notices.append(notice)
        return notice

    def kinds(self, subscription_id: str | None = None) -> list[str]:
        return [n.kind for n in self.notices
                if subscription_id is None or n.subscription_id == subscription_id]


class FakeTax:
    RATE = Decimal("0.10")

    def __init__(self) -> None:
        self.calls: list[str] = []
        # invoice id -> quotes answered "unavailable" (transient) before a real one
        self.unavailable: dict[str, int] = {}

    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        self.calls.append(invoice.invoice_id)
        if self.unavailable.get(invoice.invoice_id, 0) > 0:
            self.unavailable[invoice.invoice_id] -= 1
            raise UnavailableError("tax engine down", system="tax")
        lines = [TaxLine(line_id=ln.line_id, jurisdiction=ship_to.country, rate=self.RATE,
                         taxable=ln.amount,
                         amount=Money(amount=round_amount(ln.amount.amount * self.RATE,
                                                          invoice.currency),
                                      currency=invoice.currency))
                 for ln in invoice.lines]
        return TaxResult(provider="fake", calculation_id=f"TX-{invoice.invoice_id}", lines=lines,
                         total=total((t.amount for t in lines), invoice.currency),
                         calculated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


class FakeProvisioning:
    def __init__(self) -> None:
        self.status: dict[str, Entitlements] = {}
        self.fail_with: CashloopError | None = None  # for grant
        self.fail_on: dict[str, CashloopError] = {}  # status ("revoked", ...) -> error
        self.calls: list[str] = []

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements:
        self.calls.append("grant")
        if self.fail_with:
            raise self.fail_with
        e = Entitlements(subscription_id=change.subscription_id,
                         status=EntitlementStatus.GRANTED, skus=change.skus)
        self.status[change.subscription_id] = e
        return e

    def _set(self, subscription_id: str, status: EntitlementStatus) -> Entitlements:
        self.calls.append(status.value)
        if status.value in self.fail_on:
            raise self.fail_on[status.value]
        if subscription_id not in self.status:
            raise NotFoundError(f"no entitlements for {subscription_id}", system="provisioning")
        e = self.status[subscription_id].model_copy(update={"status": status})
        self.status[subscription_id] = e
        return e

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.SUSPENDED)

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.GRANTED)

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.REVOKED)


class FakeRates:
    """A rate table in memory: {(base, quote): rate}; an unknown pair is NotFound."""

    def __init__(self, table: dict[tuple[str, str], Decimal] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[tuple[str, str, dt.date]] = []

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        self.calls.append((base, quote, on))
        if (base, quote) not in self.table:
            raise NotFoundError(f"no rate {base}/{quote}", system="rates")
        return ExchangeRate(base=base, quote=quote, rate=self.table[(base, quote)],
                            effective_from=on, source="fake")


class FakePayments:
    """Declines the first `fail_first[invoice]` attempts of an invoice, then collects."""

    def __init__(self) -> None:
        self.fail_first: dict[str, int] = {}
        self.attempts: list[CollectionRequest] = []
        self._results: dict[str, CollectionResult] = {}

    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        if request.attempt_id in self._results:
            return self._results[request.attempt_id].model_copy(update={"duplicate": True})
        earlier = sum(1 for a in self.attempts if a.invoice_id == request.invoice_id)
        self.attempts.append(request)
        if earlier < self.fail_first.get(request.invoice_id, 0):
            result = CollectionResult(attempt_id=request.attempt_id,
                                      status=CollectionStatus.FAILED,
                                      failure_code="card_declined")
        else:
            result = CollectionResult(
                attempt_id=request.attempt_id, status=CollectionStatus.SUCCEEDED,
                payment=Payment(payment_id="py_" + request.attempt_id.replace(":", "_"),
                                invoice_id=request.invoice_id,
                                customer_id=request.customer_id,
                                legal_entity=request.legal_entity, amount=request.amount,
                                received_on=request.attempted_on))
        self._results[request.attempt_id] = result
        return result


class FakeBilling:
    """A billing system that records the closes it was told of (adapters/billing)."""

    def __init__(self) -> None:
        self.closed: dict[tuple[str, str], str] = {}  # (invoice, subscription) -> reason

    async def close_unpaid(self, invoice_id: str, subscription_id: str, *, reason: str,
                           correlation_id: str) -> UpstreamClose:
        changed = (invoice_id, subscription_id) not in self.closed
        self.closed.setdefault((invoice_id, subscription_id), reason)
        return UpstreamClose(invoice_id=invoice_id, subscription_id=subscription_id,
                             invoice_status="uncollectible", subscription_status="canceled",
                             changed=changed)
