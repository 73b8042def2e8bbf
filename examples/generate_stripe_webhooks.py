"""Regenerates examples/stripe_webhooks.jsonl: the Stripe part of the scenario `make demo` sends.

Two Stripe customers (config/stripe_customers.toml maps them to Cashloop customers):
Globex AG (DE01, EUR, monthly, two invoices paid) and Hooli Inc. (US01, USD, yearly). The
lines are unsigned Stripe event objects; the demo signs each when it sends it. Hooli's
invoice.paid comes before its invoice.finalized and a metadata-only update comes in
between, as Stripe may deliver them: the gateway resequences and ignores respectively.
Run from the repo root.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from devstack import stripe_events as se

OUT = Path(__file__).with_name("stripe_webhooks.jsonl")
VAT_DE, SALES_TAX_NY = "txr_1R2mVatDE19pct0", "txr_1R2mNYSalesTax00"


def at(day: dt.date, hour: int = 9, minute: int = 0) -> int:
    return se.unix(dt.datetime.combine(day, dt.time(hour, minute), dt.UTC))


def globex() -> list[dict[str, Any]]:
    cus, sub = "cus_R2mGlobexAG01", "sub_1R2mGlobexAG0001"
    team = se.price("price_1R2mGlobexTeamM", "prod_R2mCashloopTeam", 49000, "eur",
                    nickname="Team Monthly")
    start, second, end = dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    events = [se.event("evt_1R2mGlobex00000001", "customer.subscription.created", at(start),
                       se.subscription(sub, cus, [("si_R2mGlobexTeam01", team, 2)], at(start),
                                       at(second)))]
    for n, (p_start, p_end) in enumerate(((start, second), (second, end)), start=1):
        inv_id, pi_id = f"in_1R2mGlobex00000{n}", f"pi_3R2mGlobex00000{n}"
        line = se.invoice_line(f"il_1R2mGlobex0000{n}", inv_id, sub, 98000, "eur",
                               at(p_start), at(p_end), price_id="price_1R2mGlobexTeamM",
                               product="prod_R2mCashloopTeam", quantity=2,
                               tax=(18620, 98000, VAT_DE), description="2 x Team Monthly")
        reason = "subscription_create" if n == 1 else "subscription_cycle"
        finalized = se.invoice(inv_id, cus, sub, "eur", [line], status="open",
                               billing_reason=reason, finalized_at=at(p_start, 9, 1))
        paid = se.invoice(inv_id, cus, sub, "eur", [line], status="paid", billing_reason=reason,
                          finalized_at=at(p_start, 9, 1), paid_at=at(p_start, 9, 2),
                          payment_intent=pi_id, attempt_count=1)
        events += [
            se.event(f"evt_1R2mGlobex0000{n}02", "invoice.finalized", at(p_start, 9, 1),
                     finalized),
            se.event(f"evt_1R2mGlobex0000{n}03", "invoice.paid", at(p_start, 9, 2), paid),
            se.event(f"evt_1R2mGlobex0000{n}04", "payment_intent.succeeded", at(p_start, 9, 2),
                     se.payment_intent(pi_id, cus, 116620, "eur", at(p_start, 9, 1), inv_id)),
        ]
    return events


def hooli() -> list[dict[str, Any]]:
    cus, sub, inv_id = "cus_R2mHooliUS0001", "sub_1R2mHooliUS00001", "in_1R2mHooliUS000001"
    pro = se.price("price_1R2mHooliProYr", "prod_R2mCashloopPro", 600000, "usd",
                   interval="year", nickname="Pro Annual")
    start, end = dt.date(2026, 4, 1), dt.date(2027, 4, 1)
    subscription = se.subscription(sub, cus, [("si_R2mHooliPro0001", pro, 1)], at(start), at(end))
    line = se.invoice_line("il_1R2mHooliUS00001", inv_id, sub, 600000, "usd", at(start), at(end),
                           price_id="price_1R2mHooliProYr", product="prod_R2mCashloopPro",
                           tax=(53250, 600000, SALES_TAX_NY), description="Pro Annual")
    paid = se.invoice(inv_id, cus, sub, "usd", [line], status="paid",
                      billing_reason="subscription_create", finalized_at=at(start, 9, 1),
                      paid_at=at(start, 9, 3), payment_intent="pi_3R2mHooliUS000001",
                      attempt_count=1)
    finalized = se.invoice(inv_id, cus, sub, "usd", [line], status="open",
                           billing_reason="subscription_create", finalized_at=at(start, 9, 1))
    tagged = {**subscription, "metadata": {"crm_opportunity": "OPP-20417"}}
    return [
        se.event("evt_1R2mHooli000000001", "customer.subscription.created", at(start),
                 subscription),
        se.event("evt_1R2mHooli000000003", "invoice.paid", at(start, 9, 3), paid),
        se.event("evt_1R2mHooli000000004", "customer.subscription.updated", at(start, 9, 4),
                 tagged, previous={"metadata": {}}),
        se.event("evt_1R2mHooli000000002", "invoice.finalized", at(start, 9, 1), finalized),
    ]


def main() -> None:
    lines = [json.dumps(e, sort_keys=True) for e in globex() + hooli()]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} Stripe events to {OUT}")


if __name__ == "__main__":
    main()
