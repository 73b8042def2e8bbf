"""Builders of realistic canonical event streams, for the demo, tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from canonical.billing import (
    BillingReason,
    CreditMemo,
    CreditMemoLine,
    Invoice,
    InvoiceLine,
    LineKind,
)
from canonical.catalog import BillingPeriod, Plan
from canonical.customer import Address, CustomerAccount, Party
from canonical.events import (
    BusinessKeys,
    CreditMemoIssued,
    CreditMemoIssuedEvent,
    Event,
    InvoiceIssued,
    InvoiceIssuedEvent,
    PaymentFailed,
    PaymentFailedEvent,
    PaymentRefunded,
    PaymentRefundedEvent,
    PaymentSucceeded,
    PaymentSucceededEvent,
    SubscriptionActivated,
    SubscriptionActivatedEvent,
    SubscriptionAmended,
    SubscriptionAmendedEvent,
)
from canonical.money import Money
from canonical.payment import Payment, PaymentFailure, Refund
from canonical.subscription import Amendment, Subscription, SubscriptionItem

ENTITY_CURRENCY = {"US01": "USD", "DE01": "EUR", "JP01": "JPY"}
ADDRESSES = {
    "US": Address(line1="1 Market St", city="San Francisco", postal_code="94105", region="CA",
                  country="US"),
    "US-NY": Address(line1="350 Fifth Ave", city="New York", postal_code="10118", region="NY",
                     country="US"),
    "DE": Address(line1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE"),
    "FR": Address(line1="1 Rue de Rivoli", city="Paris", postal_code="75001", country="FR"),
    "JP": Address(line1="1-1 Marunouchi", city="Tokyo", postal_code="100-0005", country="JP"),
}
ENTITY_OF_COUNTRY = {"US": "US01", "DE": "DE01", "FR": "DE01", "JP": "JP01"}


def _country(address_key: str) -> str:
    return address_key.split("-")[0]
PRICES = {"USD": Decimal("1200.00"), "EUR": Decimal("990.00"), "JPY": Decimal("150000")}


def plan(code: str, currency: str, price: Decimal | str,
         period: BillingPeriod = BillingPeriod.YEAR) -> Plan:
    return Plan(plan_code=code, sku=f"SKU-{code.upper()}", name=code.replace("-", " ").title(),
                price=Money(amount=Decimal(price), currency=currency), billing_period=period)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier, when negative), at most the 28th."""
    years, month0 = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + years, month0 + 1, min(day.day, 28))


@dataclass
class Lifecycle:
    """Events of one subscription, numbered by `sequence` from 1."""

    subscription_id: str
    customer: CustomerAccount
    subscription: Subscription
    source: str = "billing"
    events: list[Event] = field(default_factory=list)

    def _env(self, suffix: str, at: dt.datetime) -> dict[str, Any]:
        return {"event_id": f"evt_{self.subscription_id}_{suffix}",
                "occurred_at": at, "source": self.source,
                "sequence": len(self.events) + 1,
                "correlation_id": f"corr_{self.subscription_id}",
                "keys": BusinessKeys(subscription_id=self.subscription_id)}

    def activate(self) -> Lifecycle:
        at = dt.datetime.combine(self.subscription.term_start, dt.time(9), dt.UTC)
        self.events.append(SubscriptionActivatedEvent(
            **self._env("activated", at),
            payload=SubscriptionActivated(customer=self.customer,
                                          subscription=self.subscription)))
        return self

    def invoice(self, invoice_id: str, start: dt.date, end: dt.date,
                reason: BillingReason = BillingReason.SUBSCRIPTION_CREATE,
                usage: Money | None = None) -> Invoice:
        sub = self.subscription
        lines = [InvoiceLine(line_id=f"{invoice_id}-{i + 1}", kind=LineKind.RECURRING,
                             description=item.plan.name, sku=item.plan.sku,
                             plan_code=item.plan.plan_code, quantity=Decimal(item.quantity),
                             amount=item.plan.price.times(item.quantity),
                             period_start=start, period_end=end)
                 for i, item in enumerate(sub.items)]
        if usage is not None:
            lines.append(InvoiceLine(line_id=f"{invoice_id}-usage", kind=LineKind.USAGE,
                                     description="API overage", amount=usage))
        invoice = Invoice(invoice_id=invoice_id, customer_id=sub.customer_id,
                          subscription_id=sub.subscription_id, legal_entity=sub.legal_entity,
                          currency=sub.currency, issued_on=start,
                          due_on=start + dt.timedelta(days=30), lines=lines,
                          billing_reason=reason)
        at = dt.datetime.combine(start, dt.time(9, 5), dt.UTC)
        self.events.append(InvoiceIssuedEvent(**self._env(f"inv_{invoice_id}", at),
                                              payload=InvoiceIssued(invoice=invoice)))
        return invoice

    def pay(self, payment_id: str, invoice_id: str, amount: Money, on: dt.date,
            fee: Money | None = None) -> None:
        sub = self.subscription
        payment = Payment(payment_id=payment_id, invoice_id=invoice_id,
                          customer_id=sub.customer_id, legal_entity=sub.legal_entity,
                          amount=amount, fee=fee, received_on=on)
        at = dt.datetime.combine(on, dt.time(12), dt.UTC)
        self.events.append(PaymentSucceededEvent(**self._env(f"pay_{payment_id}", at),
                                                 payload=PaymentSucceeded(payment=payment)))

    def refund(self, refund_id: str, payment_id: str, invoice_id: str, amount: Money,
               on: dt.date) -> None:
        sub = self.subscription
        refund = Refund(refund_id=refund_id, payment_id=payment_id, invoice_id=invoice_id,
                        customer_id=sub.customer_id, legal_entity=sub.legal_entity,
                        amount=amount, refunded_on=on)
        at = dt.datetime.combine(on, dt.time(12), dt.UTC)
        self.events.append(PaymentRefundedEvent(**self._env(f"ref_{refund_id}", at),
                                                payload=PaymentRefunded(refund=refund)))

    def credit(self, credit_memo_id: str, invoice_id: str, amount: Money, on: dt.date,
               tax: Money | None = None, reason: str = "service credit") -> CreditMemo:
        """The billing system's own credit memo on an invoice (`amount` net, `tax` on it)."""
        sub = self.subscription
        memo = CreditMemo(
            credit_memo_id=credit_memo_id, customer_id=sub.customer_id,
            subscription_id=sub.subscription_id, invoice_id=invoice_id,
            legal_entity=sub.legal_entity, currency=amount.currency, issued_on=on,
            reason=reason, lines=[CreditMemoLine(
                line_id=f"{credit_memo_id}-1", description=reason, amount=amount,
                tax_amount=tax or Money.zero(amount.currency))])
        at = dt.datetime.combine(on, dt.time(11), dt.UTC)
        self.events.append(CreditMemoIssuedEvent(**self._env(f"cm_{credit_memo_id}", at),
                                                 payload=CreditMemoIssued(credit_memo=memo)))
        return memo

    def amend(self, amendment_id: str, at: dt.datetime, items: list[tuple[Plan, int]],
              credit_memo_id: str, invoice_id: str) -> Amendment:
        """A mid-term change to `items` (credit-and-rebill), effective at `at`."""
        sid = self.subscription_id
        amendment = Amendment(
            amendment_id=amendment_id, subscription_id=sid, effective_at=at,
            new_items=[SubscriptionItem(item_id=f"{sid}-item{i + 1}", plan=p, quantity=q)
                       for i, (p, q) in enumerate(items)],
            credit_memo_id=credit_memo_id, invoice_id=invoice_id)
        self.events.append(SubscriptionAmendedEvent(
            **self._env(f"amend_{amendment_id}", at),
            payload=SubscriptionAmended(amendment=amendment)))
        return amendment

    def fail(self, payment_id: str, invoice_id: str, amount: Money, on: dt.date,
             code: str = "card_declined") -> None:
        """A collection attempt that failed (starts dunning)."""
        failure = PaymentFailure(payment_id=payment_id, invoice_id=invoice_id,
                                 customer_id=self.subscription.customer_id, amount=amount,
                                 failure_code=code, failed_on=on)
        at = dt.datetime.combine(on, dt.time(8), dt.UTC)
        self.events.append(PaymentFailedEvent(**self._env(f"fail_{payment_id}", at),
                                              payload=PaymentFailed(failure=failure)))


def customer(customer_id: str, where: str, name: str | None = None,
             email: str | None = None) -> CustomerAccount:
    """A customer at one of ADDRESSES ("US", "US-NY", "DE", ...), in the entity serving it."""
    country = _country(where)
    entity = ENTITY_OF_COUNTRY[country]
    party = Party(name=name or f"Customer {customer_id}",
                  email=email or f"billing@{customer_id}.example", address=ADDRESSES[where])
    return CustomerAccount(customer_id=customer_id, name=party.name, legal_entity=entity,
                           country=country, currency=ENTITY_CURRENCY[entity], bill_to=party)


def lifecycle(subscription_id: str, cust: CustomerAccount, start: dt.date,
              plans: list[tuple[Plan, int]] | None = None, months: int = 12) -> Lifecycle:
    currency = cust.currency
    plans = plans or [(plan("pro-annual", currency, PRICES[currency]), 1)]
    sub = Subscription(
        subscription_id=subscription_id, customer_id=cust.customer_id,
        legal_entity=cust.legal_entity, currency=currency,
        items=[SubscriptionItem(item_id=f"{subscription_id}-item{i + 1}", plan=p, quantity=q)
               for i, (p, q) in enumerate(plans)],
        term_start=start, term_end=add_months(start, months))
    return Lifecycle(subscription_id=subscription_id, customer=cust, subscription=sub)
