"""Flows of a EUR subscription in a USD entity book at the rates finance expects.

Real dev server, sandbox systems over HTTP, the sandbox rate table (EUR->USD 1.10 from
1 January 2026, 1.12 from 1 February, 1.09 from 1 April, 1.15 from 1 July). Credits and
write-offs relieve receivables at the credited invoice's booking rate, the released
deferral leaves at the rate it was deferred at, a realised FX difference appears only on
payment and refund, and the payment or write-off that settles a receivable leaves
nothing of it in USD either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from adapters.erp.sandbox import SandboxErpReader
from canonical.accounts import AccountRole
from canonical.ledger import JournalEntry, Side
from canonical.money import Money
from canonical.reports import trial_balance
from cli.send import deliver
from devstack import streams
from tests.integration.stack import ENTITIES, running_engine
from tests.integration.test_flows_e2e import ONE_ERP, settle

US01 = ENTITIES["US01"].chart
AR, DEFERRED = US01.code(AccountRole.ACCOUNTS_RECEIVABLE), US01.code(AccountRole.DEFERRED_REVENUE)
CASH = US01.code(AccountRole.CASH_CLEARING)
REALISED = "realised FX difference"


def eur_life(sub_id: str, start: dt.date = dt.date(2026, 1, 1)) -> streams.Lifecycle:
    """1,200.00 EUR a year from `start` for a Californian customer (7.25 % tax)."""
    cust = streams.customer(f"cus_{sub_id}", "US").model_copy(update={"currency": "EUR"})
    lf = streams.lifecycle(sub_id, cust, start,
                           [(streams.plan("pro-annual", "EUR", "1200.00"), 1)])
    lf.activate()
    lf.invoice(f"in_{sub_id}", start, start.replace(year=start.year + 1))
    return lf


def functional(entry: JournalEntry, account: str, side: Side) -> Decimal:
    return sum((ln.functional_amount.amount for ln in entry.lines  # type: ignore[union-attr]
                if ln.account == account and ln.side == side), Decimal(0))


def functional_ar(entries: Iterable[JournalEntry], customer_id: str) -> Decimal:
    return sum((ln.functional_amount.amount if ln.side == Side.DEBIT  # type: ignore[union-attr]
                else -ln.functional_amount.amount  # type: ignore[union-attr]
                for e in entries for ln in e.lines
                if ln.account == AR and ln.customer_id == customer_id), Decimal(0))


async def functional_deferred_ties(erp: SandboxErpReader) -> tuple[Money, Money]:
    """(deferred revenue in USD on the books, USD of the unrecognised schedule periods)."""
    tb = trial_balance(await erp.journal_entries("US01"), US01)
    booked = next(-r.balance for r in tb.rows if r.account == DEFERRED)
    held = sum((p.functional_amount.amount for s in await erp.schedules("US01")
                for p in s.periods if p.status == "open" and p.functional_amount is not None),
               Decimal(0))
    return booked, Money(amount=held, currency="USD")


async def test_eur_amendment_dunning_and_payment_book_at_the_invoices_rates(
        dev_client: Client, tmp_path: Path) -> None:
    up, lost = eur_life("sub_fx_up"), eur_life("sub_fx_lost")
    up.amend("am_fx_up", dt.datetime(2026, 5, 10, 15, 30, tzinfo=dt.UTC),
             [(streams.plan("pro-plus-annual", "EUR", "2400.00"), 1)], "cm_fx_up", "in_fx_up_a1")
    up.pay("py_fx_up", "in_fx_up_a1", Money.of("100.00", "EUR"), dt.date(2026, 7, 15))
    up.refund("rf_fx_up", "py_fx_up", "in_fx_up_a1", Money.of("40.00", "EUR"),
              dt.date(2026, 7, 20))
    lost.fail("py_fx_lost_f", "in_sub_fx_lost", Money.of("1287.00", "EUR"), dt.date(2026, 2, 1))
    split = eur_life("sub_fx_split")
    split.pay("py_fx_split_1", "in_sub_fx_split", Money.of("300.05", "EUR"), dt.date(2026, 2, 1))
    split.pay("py_fx_split_2", "in_sub_fx_split", Money.of("986.95", "EUR"), dt.date(2026, 4, 1))
    dun = eur_life("sub_fx_dun")  # the same split, the rest collected by dunning's retry
    dun.pay("py_fx_dun_1", "in_sub_fx_dun", Money.of("300.05", "EUR"), dt.date(2026, 2, 1))
    dun.fail("py_fx_dun_f", "in_sub_fx_dun", Money.of("986.95", "EUR"), dt.date(2026, 2, 2))
    # the whole invoice dunned, then part paid while the ladder runs: the retry collects
    # the rest
    dunp = eur_life("sub_fx_dunp")
    dunp.fail("py_fx_dunp_f", "in_sub_fx_dunp", Money.of("1287.00", "EUR"), dt.date(2026, 2, 2))
    dunp.pay("py_fx_dunp_1", "in_sub_fx_dunp", Money.of("300.05", "EUR"), dt.date(2026, 2, 3))
    # booked on 1 February at 1.12, part paid, the rest dunned to a write-off
    wo = eur_life("sub_fx_wo", dt.date(2026, 2, 1))
    wo.pay("py_fx_wo_1", "in_sub_fx_wo", Money.of("10.04", "EUR"), dt.date(2026, 2, 2))
    wo.fail("py_fx_wo_f", "in_sub_fx_wo", Money.of("1276.96", "EUR"), dt.date(2026, 2, 3))
    # the same split, the rest credited by the billing system's own credit note
    cn = eur_life("sub_fx_cn")
    cn.pay("py_fx_cn_1", "in_sub_fx_cn", Money.of("300.05", "EUR"), dt.date(2026, 2, 1))
    cn.credit("cn_fx_cn", "in_sub_fx_cn", Money.of("986.95", "EUR"), dt.date(2026, 4, 1),
              reason="goodwill")
    async with running_engine(dev_client, tmp_path, routing=ONE_ERP, renewals_enabled=False,
                              day_seconds=0.3) as engine:
        await engine.payments.set_outcome("customer:cus_sub_fx_lost", then="fail")
        await engine.payments.set_outcome("customer:cus_sub_fx_wo", then="fail")
        await deliver(dev_client, up.events + lost.events + split.events
                                       + dun.events + wo.events + cn.events + dunp.events,
                      engine.config)
        views = {v.subscription_id: v for v in await settle(
            engine, {"sub_fx_up": 5, "sub_fx_lost": 3, "sub_fx_split": 4, "sub_fx_dun": 4,
                     "sub_fx_wo": 4, "sub_fx_cn": 4, "sub_fx_dunp": 4})}
        erp = engine.readers["erp-legacy"]
        entries = {e.external_id: e for e in await erp.journal_entries("US01")}
        booked, held = await functional_deferred_ties(erp)
    assert (views["sub_fx_up"].state, views["sub_fx_lost"].state) == ("Active", "Cancelled")
    # The amendment's credit (issued 10 May, when the rate is 1.09) and the cancellation's
    # credit and write-off (8 February, 1.12) relieve receivables at the invoices' 1.10.
    credit, cancel, write_off = (entries["cm:cm_fx_up"], entries["cm:sub_fx_lost-cancel"],
                                 entries["wo:in_sub_fx_lost"])
    assert (credit.rate, cancel.rate, write_off.rate) == (Decimal("1.10"),) * 3
    # The rebill, booked on 10 May at 1.09, paid 100.00 EUR on 15 July at 1.15: cash
    # 115.00, receivable relieved 109.00, realised gain 6.00.
    pay = entries["pay:py_fx_up"]
    assert (pay.rate, functional(pay, AR, Side.CREDIT)) == (Decimal("1.15"), Decimal("109.00"))
    assert [(ln.side, ln.functional_amount.amount) for ln in pay.lines  # type: ignore[union-attr]
            if ln.memo == REALISED] == [(Side.CREDIT, Decimal("6.00"))]
    # 40.00 EUR of it refunded on 20 July at 1.15: cash 46.00 leaves, the receivable comes
    # back at the rebill's 1.09 as the payment relieved it (43.60), a realised loss of 2.40
    ref = entries["ref:rf_fx_up"]
    assert (functional(ref, AR, Side.DEBIT), functional(ref, CASH, Side.CREDIT)) == (
        Decimal("43.60"), Decimal("46.00"))
    assert [(ln.side, ln.functional_amount.amount) for ln in ref.lines  # type: ignore[union-attr]
            if ln.memo == REALISED] == [(Side.DEBIT, Decimal("2.40"))]
    assert not [e.external_id for e in entries.values() if e.source_type not in (
        "payment", "refund") and any(ln.memo == REALISED for ln in e.lines)]
    # 1,287.00 EUR booked at 1.10 = 1,415.70 USD, relieved by the credit of unused service
    # (327 days: 1,075.07 + 77.94 tax = 1,153.01 EUR -> 1,268.31 USD) and the write-off of
    # the rest (133.99 EUR -> 147.39 USD): nothing is left on the customer's receivable.
    assert functional_ar(entries.values(), "cus_sub_fx_lost") == 0
    # 1,287.00 EUR (1,415.70 USD) paid in two: 300.05 relieves 330.055 -> 330.06; the
    # 986.95 that settles it relieves what is left, 1,085.64 (on its own 1,085.645 ->
    # 1,085.65, and a cent would stay on the settled receivable)
    second = entries["pay:py_fx_split_2"]
    assert functional(second, AR, Side.CREDIT) == Decimal("1085.64")
    assert functional_ar(entries.values(), "cus_sub_fx_split") == 0
    collected = [e for e in entries.values() if e.source_type == "payment"
                 and e.lines[0].customer_id == "cus_sub_fx_dun"
                 and e.external_id != "pay:py_fx_dun_1"]
    assert [functional(e, AR, Side.CREDIT) for e in collected] == [Decimal("1085.64")]
    assert functional_ar(entries.values(), "cus_sub_fx_dun") == 0
    # the same amounts in the other order: the ladder learnt of the part payment, and
    # its retry of the 986.95 left relieves what is left
    collected = [e for e in entries.values() if e.source_type == "payment"
                 and e.lines[0].customer_id == "cus_sub_fx_dunp"
                 and e.external_id != "pay:py_fx_dunp_1"]
    assert [functional(e, AR, Side.CREDIT) for e in collected] == [Decimal("1085.64")]
    assert functional_ar(entries.values(), "cus_sub_fx_dunp") == 0
    # 1,287.00 EUR booked on 1 February at 1.12 (1,441.44 USD), 10.04 paid (11.24), the
    # cancellation's credit 1,255.26 (1,405.89): the write-off of the last 21.70 relieves
    # the 24.31 left (on its own 24.304 -> 24.30), as bad debt too
    written_off = entries["wo:in_sub_fx_wo"]
    assert (functional(written_off, AR, Side.CREDIT),
            functional(written_off, US01.code(AccountRole.BAD_DEBT_EXPENSE), Side.DEBIT)) == (
        Decimal("24.31"), Decimal("24.31"))
    assert functional_ar(entries.values(), "cus_sub_fx_wo") == 0
    # The credit note of the 986.95 left relieves what is left, 1,085.64 (as the split's
    # settling payment); it changes no schedule, so it reverses revenue at the invoice's
    # 1.10 (1,085.65, the cent between them FX rounding) and deferred revenue stays
    credit_note = entries["cm:cn_fx_cn"]
    assert (functional(credit_note, AR, Side.CREDIT), functional(credit_note, DEFERRED, Side.DEBIT),
            functional(credit_note, US01.code(AccountRole.SUBSCRIPTION_REVENUE), Side.DEBIT)
            ) == (Decimal("1085.64"), Decimal(0), Decimal("1085.65"))
    assert functional_ar(entries.values(), "cus_sub_fx_cn") == 0
    assert booked == held  # deferred revenue in USD ties to the schedules' USD periods
    assert trial_balance(list(entries.values()), US01).balanced
