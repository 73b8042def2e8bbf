"""Regenerates examples/demo.jsonl and examples/demo-setup.json (run from the repo root).

Payments are for the invoice total the sandbox tax engine will compute, so the
demo's receivables settle to what a finance team would expect. demo-setup.json is
what `make demo` seeds before sending: the payment gateway's outcomes (one dunning
ladder recovers, one ends in write-off), the ERP's delayed confirmation of US
invoices (a renewal waits visibly for it) and the demo's flow settings (a dunning
"day" of one second).
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
SETUP = Path(__file__).with_name("demo-setup.json")

DEMO_SETUP = {
    # A dunning "day" is a second, so the 3/5/7-day ladders finish within the demo.
    "flow_config": {"day_seconds": 1.0, "erp_confirmation_poll_s": 1.0},
    "payments": [
        {"key": "customer:cus_umbrella", "then": "fail"},  # every retry declined
        {"key": "invoice:in_hooli_001", "fail_first": 1},  # the second retry collects
    ],
    "erp": {"erp-legacy": {"pending_kinds": ["invoice"], "confirm_delay_s": 2.0}},
}


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

    # Acme upgrades mid-term: the unused Pro is credited, Enterprise rebilled to term end.
    acme.amend("am_acme_001", dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC),
               [(plan("enterprise-annual", "USD", "24000.00"), 1)],
               credit_memo_id="cn_acme_001", invoice_id="in_acme_002")

    # Globex's term has ended: Cashloop renews it (invoice sub_globex_001-r1).
    globex = streams.lifecycle("sub_globex_001", streams.customer(
        "cus_globex", "US", "Globex Corporation", "ap@globex.example"), dt.date(2025, 11, 1),
        [(plan("pro-annual", "USD", "6000.00"), 1)])
    globex.activate()
    inv = globex.invoice("in_globex_001", globex.subscription.term_start,
                         globex.subscription.term_end)
    paid = gross(inv, globex)
    globex.pay("py_globex_001", inv.invoice_id, paid, dt.date(2025, 11, 5), fee(paid))

    # Umbrella's card fails and keeps failing: dunning cancels and writes off.
    umbrella = streams.lifecycle("sub_umbrella_001", streams.customer(
        "cus_umbrella", "US", "Umbrella Corp", "ap@umbrella.example"), dt.date(2026, 5, 1),
        [(plan("pro-annual", "USD", "3600.00"), 1)])
    umbrella.activate()
    inv = umbrella.invoice("in_umbrella_001", umbrella.subscription.term_start,
                           umbrella.subscription.term_end)
    umbrella.fail("py_umbrella_001", inv.invoice_id, gross(inv, umbrella), dt.date(2026, 5, 3))

    # Hooli's card fails once: the second dunning retry collects, access is kept.
    hooli = streams.lifecycle("sub_hooli_001", streams.customer(
        "cus_hooli", "DE", "Hooli GmbH", "buchhaltung@hooli.example"), dt.date(2026, 6, 1),
        [(plan("pro-annual", "EUR", "2400.00"), 1)])
    hooli.activate()
    inv = hooli.invoice("in_hooli_001", hooli.subscription.term_start,
                        hooli.subscription.term_end)
    hooli.fail("py_hooli_001", inv.invoice_id, gross(inv, hooli), dt.date(2026, 6, 3))

    for life in (acme, initech, muller, dupont, tanaka, globex, umbrella, hooli):
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
    SETUP.write_text(json.dumps(DEMO_SETUP, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT} and {SETUP}")
