"""Regenerates examples/demo.jsonl, the scenario `make demo` sends (run from the repo root).

Payments are for the invoice total the sandbox tax engine will compute, so the
demo's receivables settle to what a finance team would expect.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from adapters.sandbox.tax_service import line_tax, rate_for
from canonical.billing import BillingReason, Invoice
from canonical.catalog import BillingPeriod
from canonical.money import Money, total
from canonical.schemas import dump_event
from devstack import streams
from devstack.streams import add_months, plan

OUT = Path(__file__).with_name("demo.jsonl")


def gross(invoice: Invoice, life: streams.Lifecycle) -> Money:
    address = life.customer.bill_to.address
    rate, _, _ = rate_for(address.country, address.region)
    tax = total((line_tax(line.amount, rate) for line in invoice.lines), invoice.currency)
    return invoice.subtotal + tax


def fee(amount: Money) -> Money:
    """A card processor's 2.9 % + 0.30 (in the payment's currency units)."""
    fixed = Decimal("0.30") if amount.currency != "JPY" else Decimal(30)
    return Money.of(amount.amount * Decimal("0.029") + fixed, amount.currency)


def scenario() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []

    acme = streams.lifecycle("sub_acme_001", streams.customer(
        "cus_acme", "US", "Acme Corp", "ap@acme.example"), dt.date(2026, 1, 15),
        [(plan("pro-annual", "USD", "12000.00"), 1)])
    acme.activate()
    inv = acme.invoice("in_acme_001", acme.subscription.term_start, acme.subscription.term_end)
    paid = gross(inv, acme)
    acme.pay("py_acme_001", inv.invoice_id, paid, dt.date(2026, 1, 20), fee(paid))

    initech = streams.lifecycle("sub_initech_001", streams.customer(
        "cus_initech", "US-NY", "Initech LLC", "billing@initech.example"), dt.date(2026, 3, 1),
        [(plan("team-monthly", "USD", "49.00", BillingPeriod.MONTH), 12)])
    initech.activate()
    start = initech.subscription.term_start
    for n in range(3):
        period_start, period_end = add_months(start, n), add_months(start, n + 1)
        usage = Money.of("125.40", "USD") if n == 1 else None
        reason = BillingReason.SUBSCRIPTION_CREATE if n == 0 else BillingReason.SUBSCRIPTION_CYCLE
        inv = initech.invoice(f"in_initech_00{n + 1}", period_start, period_end, reason, usage)
        if n < 2:  # the third invoice stays open: it is what AR shows at the end
            paid = gross(inv, initech)
            initech.pay(f"py_initech_00{n + 1}", inv.invoice_id, paid,
                        period_start + dt.timedelta(days=3), fee(paid))

    muller = streams.lifecycle("sub_muller_001", streams.customer(
        "cus_muller", "DE", "Mueller Maschinenbau GmbH", "buchhaltung@mueller.example"),
        dt.date(2026, 3, 1), [(plan("enterprise-annual", "EUR", "120000.00"), 1)])
    muller.activate()
    inv = muller.invoice("in_muller_001", muller.subscription.term_start,
                         muller.subscription.term_end)
    paid = gross(inv, muller)
    muller.pay("py_muller_001", inv.invoice_id, paid, dt.date(2026, 3, 10))

    dupont = streams.lifecycle("sub_dupont_001", streams.customer(
        "cus_dupont", "FR", "Dupont et Fils SA", "compta@dupont.example"), dt.date(2026, 2, 10),
        [(plan("pro-annual", "EUR", "990.00"), 3)])
    dupont.activate()
    inv = dupont.invoice("in_dupont_001", dupont.subscription.term_start,
                         dupont.subscription.term_end)
    dupont.pay("py_dupont_001", inv.invoice_id, Money.of("1500.00", "EUR"),
               dt.date(2026, 2, 20))  # a partial payment: the rest stays in AR

    tanaka = streams.lifecycle("sub_tanaka_001", streams.customer(
        "cus_tanaka", "JP", "Tanaka Shoji KK", "keiri@tanaka.example"), dt.date(2026, 4, 1),
        [(plan("pro-annual-jp", "JPY", "150000"), 1)])
    tanaka.activate()
    inv = tanaka.invoice("in_tanaka_001", tanaka.subscription.term_start,
                         tanaka.subscription.term_end)
    paid = gross(inv, tanaka)
    tanaka.pay("py_tanaka_001", inv.invoice_id, paid, dt.date(2026, 4, 5), fee(paid))

    for life in (acme, initech, muller, dupont, tanaka):
        lines += [dump_event(e) for e in life.events]

    # One payment arrives in the retired v1 shape; it is upcast on the way in.
    v1 = next(ln for ln in lines if ln["event_id"] == "evt_sub_muller_001_pay_py_muller_001")
    payment = v1["payload"]["payment"]  # type: ignore[index]
    v1.update(schema_version=1, payload={
        "payment_id": payment["payment_id"], "invoice_id": payment["invoice_id"],
        "customer_id": payment["customer_id"], "legal_entity": payment["legal_entity"],
        "amount": payment["amount"]["amount"], "currency": payment["amount"]["currency"],
        "received_on": payment["received_on"], "method": "sepa_debit"})
    v1["keys"] = {"subscription_id": "sub_muller_001"}
    return lines


if __name__ == "__main__":
    OUT.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in scenario()))
    print(f"wrote {OUT}")
