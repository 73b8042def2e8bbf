"""A deterministic mixed order-to-cash stream for the benchmarks.

Per subscription: an activation and its first invoice, then (by a seeded draw) a payment
in full (with the gateway's fee), an upgrade billed as credit-and-rebill, a failed payment
that dunning recovers, or a term that is due for renewal now (so RenewalFlow runs during
the benchmark). Payments are for the gross the sandbox tax engine will compute. With
`Mix.credit` (the chaos drill's mix), a share of the paid subscriptions also gets the
billing system's service credit and a refund of what it credited.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from adapters.sandbox.tax_service import line_tax, rate_for
from canonical.billing import Invoice
from canonical.events import EnvelopeBase
from canonical.money import Money, total
from devstack import streams

WHERE = ("US", "US-NY", "DE", "FR", "JP")


@dataclass(frozen=True)
class Mix:
    """Shares of subscriptions that get each extra; the rest are simply paid."""

    amend: float = 0.2
    dunning: float = 0.1
    renewal_due: float = 0.1
    # Of the paid ones: a service credit of a tenth of the invoice, then its refund. Off
    # by default (the throughput stream stays as it was measured); a second draw per
    # paid subscription when on.
    credit: float = 0.0


def tax_rate(life: streams.Lifecycle) -> Decimal:
    """The sandbox tax engine's rate at the customer's bill-to address."""
    address = life.customer.bill_to.address
    return rate_for(address.country, address.region)[0]


def gross(invoice: Invoice, life: streams.Lifecycle) -> Money:
    rate = tax_rate(life)
    tax = total((line_tax(line.amount, rate) for line in invoice.lines), invoice.currency)
    return invoice.subtotal + tax


def subscription(i: int, rnd: random.Random, mix: Mix, today: dt.date,
                 prefix: str = "b") -> streams.Lifecycle:
    sid = f"{prefix}sub{i:06d}"
    where = WHERE[i % len(WHERE)]
    draw = rnd.random()
    renewal_due = draw >= 1 - mix.renewal_due
    # a term that ends within the renewal lead time starts renewing at once
    start = (streams.add_months(today, -12) + dt.timedelta(days=10) if renewal_due
             else dt.date(2026, 1 + i % 9, 1 + i % 27))
    life = streams.lifecycle(sid, streams.customer(f"{prefix}cus{i:06d}", where), start)
    life.activate()
    sub = life.subscription
    inv = life.invoice(f"{prefix}in{i:06d}", sub.term_start, sub.term_end)
    if draw < mix.dunning:
        life.fail(f"{prefix}pf{i:06d}", inv.invoice_id, gross(inv, life),
                  sub.term_start + dt.timedelta(days=2))
        return life
    paid = gross(inv, life)
    life.pay(f"{prefix}py{i:06d}", inv.invoice_id, paid, sub.term_start + dt.timedelta(days=3),
             Money.of(paid.amount * Decimal("0.029"), paid.currency))
    if mix.credit and rnd.random() < mix.credit:
        net = inv.subtotal.times(Decimal("0.1"))
        tax = line_tax(net, tax_rate(life))
        life.credit(f"{prefix}sc{i:06d}", inv.invoice_id, net,
                    sub.term_start + dt.timedelta(days=20), tax=tax)
        life.refund(f"{prefix}rf{i:06d}", f"{prefix}py{i:06d}", inv.invoice_id, net + tax,
                    sub.term_start + dt.timedelta(days=21))
    if draw < mix.dunning + mix.amend:
        at = dt.datetime.combine(sub.term_start + dt.timedelta(days=100), dt.time(10), dt.UTC)
        new_plan = streams.plan("enterprise-annual", sub.currency,
                                sub.items[0].plan.price.amount * 2)
        life.amend(f"{prefix}am{i:06d}", at, [(new_plan, 1)], f"{prefix}cm{i:06d}",
                   f"{prefix}in{i:06d}r")
    return life


def stream(subscriptions: int, seed: int = 7, mix: Mix = Mix(),
           today: dt.date | None = None, prefix: str = "b") -> list[streams.Lifecycle]:
    """`subscriptions` lifecycles; the same seed always gives the same stream."""
    rnd = random.Random(seed)
    today = today or dt.datetime.now(dt.UTC).date()
    return [subscription(i, rnd, mix, today, prefix) for i in range(subscriptions)]


def events_of(lives: list[streams.Lifecycle]) -> list[EnvelopeBase]:
    return [e for life in lives for e in life.events]
