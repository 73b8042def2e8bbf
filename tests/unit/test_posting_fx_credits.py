"""Credits and write-offs of foreign-currency invoices book at the invoice's rate, not today's.

Hand-checked on an EUR 1,200.00 + 10 % tax annual invoice of US01 (USD) from 1 January
2026, booked at 1.10 (1,452.00 USD receivable). By 1 July the rate is 1.15; crediting or
writing the invoice off at that rate would leave receivables and deferred revenue with
amounts they never held. Realised FX differences arise only on payment.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from temporalio.testing import ActivityEnvironment

from activities.io import CreditMemoJournalInput, WriteOffJournalInput
from activities.rules import RulesActivities
from canonical import posting
from canonical.billing import CreditMemo, CreditMemoLine
from canonical.catalog import RecognitionMethod
from canonical.ledger import JournalEntry, Side
from canonical.money import Money
from canonical.schedules import end_schedule, schedules_for_invoice
from tests.unit.fakes import FakeRates
from tests.unit.test_posting_fx import CHARTS, annual, m
from tests.unit.test_rules_activities import ENTITIES

US = CHARTS["US01"]
BOOKED, TODAY = Decimal("1.10"), Decimal("1.15")
UPGRADE = dt.date(2026, 7, 1)


def functional(entry: JournalEntry) -> dict[tuple[str, Side, str], Decimal]:
    out: dict[tuple[str, Side, str], Decimal] = {}
    for ln in entry.lines:
        assert ln.functional_amount is not None
        key = (ln.account, ln.side, ln.memo)
        out[key] = out.get(key, Decimal(0)) + ln.functional_amount.amount
    return out


def memo(lines: list[tuple[str, str, str | None]], invoice_id: str = "in_eur") -> CreditMemo:
    return CreditMemo(
        credit_memo_id="cm_eur", customer_id="c1", invoice_id=invoice_id, legal_entity="US01",
        currency="EUR", issued_on=UPGRADE, reason="upgrade",
        lines=[CreditMemoLine(line_id=f"cm_eur-{i}", description="unused", amount=m(net, "EUR"),
                              tax_amount=m(tax, "EUR"), invoice_id=inv)
               for i, (net, tax, inv) in enumerate(lines, 1)])


def test_credit_memo_releases_deferral_at_its_deferred_rate_and_ar_at_the_booking_rate() -> None:
    inv = annual("EUR", "1200.00", "US01", tax="120.00", start=dt.date(2026, 1, 1))
    schedule = schedules_for_invoice(inv, functional_currency="USD", rate=BOOKED)[0]
    done = frozenset(p.period for p in schedule.periods if p.end <= UPGRADE)
    cut = end_schedule(schedule, UPGRADE, recognised=done)
    # 184 unused days of 365: 1200 * 184/365 = 604.93 EUR released; its functional
    # amount is what the schedule's periods July..December held at 1.10: 112.11 +
    # 112.11 + 108.49 + 112.11 + 108.49 + 112.12 (December takes the remainder) = 665.43,
    # one cent more than 604.93 * 1.10 = 665.423 -> 665.42
    assert cut.released == m("604.93", "EUR")
    assert cut.released_functional == m("665.43", "USD")
    credit = posting.credit_memo_entry(
        memo([("604.93", "60.49", None)]), US, deferred_release=cut.released, rate=BOOKED,
        deferred_release_functional=cut.released_functional)
    # AR 665.42 EUR * 1.10 = 731.962 -> 731.96; tax 60.49 * 1.10 = 66.539 -> 66.54;
    # deferred revenue gives up exactly what it held (665.43), so the cent of rounding
    # between the schedule and the invoice goes to an explicit FX rounding line
    assert functional(credit) == {("2400", Side.DEBIT, ""): Decimal("665.43"),
                                  ("2200", Side.DEBIT, ""): Decimal("66.54"),
                                  ("1200", Side.CREDIT, ""): Decimal("731.96"),
                                  ("7900", Side.CREDIT, "FX rounding"): Decimal("0.01")}
    assert credit.rate == BOOKED


def test_credit_memo_without_a_released_amount_releases_its_net_at_the_booking_rate() -> None:
    credit = posting.credit_memo_entry(memo([("100.00", "10.00", None)]), US, rate=BOOKED)
    assert functional(credit) == {("2400", Side.DEBIT, ""): Decimal("110.00"),
                                  ("2200", Side.DEBIT, ""): Decimal("11.00"),
                                  ("1200", Side.CREDIT, ""): Decimal("121.00")}


def test_credit_memo_over_two_invoices_relieves_each_at_its_own_rate() -> None:
    rates = {"in_a": Decimal("1.10"), "in_b": Decimal("1.12")}
    credit = posting.credit_memo_entry(
        memo([("100.00", "0.00", "in_a"), ("50.00", "0.00", "in_b")], invoice_id="in_a"),
        US, rate=rates["in_a"], invoice_rates=rates)
    # 100 * 1.10 + 50 * 1.12 = 110.00 + 56.00; at one rate it would be 165.00 or 168.00
    assert functional(credit) == {("2400", Side.DEBIT, ""): Decimal("166.00"),
                                  ("1200", Side.CREDIT, ""): Decimal("166.00")}


def test_credit_of_recognised_revenue_reverses_it_at_the_booking_rate() -> None:
    credit = posting.credit_memo_entry(
        memo([("100.00", "0.00", None)]), US, deferred_release=m("60.00", "EUR"),
        deferred_release_functional=m("66.00", "USD"), rate=BOOKED)
    assert functional(credit) == {
        ("2400", Side.DEBIT, ""): Decimal("66.00"),
        ("4000", Side.DEBIT, "credited revenue already recognised"): Decimal("44.00"),
        ("1200", Side.CREDIT, ""): Decimal("110.00")}


async def test_credit_memo_journal_uses_the_credited_invoices_rate_not_the_memo_dates() -> None:
    rates = FakeRates({("EUR", "USD"): TODAY})
    entry = await ActivityEnvironment().run(
        RulesActivities(ENTITIES, rates=rates).credit_memo_journal,
        CreditMemoJournalInput(credit_memo=memo([("100.00", "0.00", "in_eur")]),
                               correlation_id="c", invoice_rates={"in_eur": BOOKED}))
    assert rates.calls == []
    assert (entry.rate, functional(entry)[("1200", Side.CREDIT, "")]) == (BOOKED,
                                                                          Decimal("110.00"))


async def test_write_off_journal_writes_off_at_the_booking_rate() -> None:
    rates = FakeRates({("EUR", "USD"): TODAY})
    entry = await ActivityEnvironment().run(
        RulesActivities(ENTITIES, rates=rates).write_off_journal,
        WriteOffJournalInput(invoice_id="in_eur", amount=Money.of("1320.00", "EUR"),
                             legal_entity="US01", customer_id="c1", posting_date=UPGRADE,
                             correlation_id="c", invoice_rate=BOOKED))
    assert rates.calls == []
    assert functional(entry) == {("6200", Side.DEBIT, ""): Decimal("1452.00"),
                                 ("1200", Side.CREDIT, ""): Decimal("1452.00")}


def test_a_release_rounding_to_nothing_in_the_memo_currency_still_relieves_its_functional_cent(
        ) -> None:
    # Found by test_ledger_properties: EUR 0.06 over 156 days at 1.0834 defers 0.07 USD
    # (five monthly periods of 0.01, June's 0.02 taking the remainder); ended two days
    # early, June (1-6 June) keeps 0.01 EUR of 0.01 and 0.01 USD of 0.02, so the cut
    # releases 0.00 EUR and 0.01 USD
    start = dt.date(2026, 1, 1)
    inv = annual("EUR", "0.06", "US01", start=start)
    line = inv.lines[0].model_copy(update={"period_end": start + dt.timedelta(days=156)})
    inv = inv.model_copy(update={"lines": [line]})
    schedule = schedules_for_invoice(inv, {"pro-annual": RecognitionMethod.EXACT_DAYS},
                                     functional_currency="USD", rate=Decimal("1.0834"))[0]
    cut = end_schedule(schedule, start + dt.timedelta(days=154), recognised=frozenset())
    assert (cut.released, cut.released_functional) == (m("0.00", "EUR"), m("0.01", "USD"))
    credit = posting.credit_memo_entry(
        memo([("0.01", "0.00", None)]), US, deferred_release=cut.released,
        rate=Decimal("1.0834"), deferred_release_functional=cut.released_functional)
    # the memo's cent reverses revenue (nothing of it was deferred in EUR), and deferred
    # revenue gives up the functional cent the schedule released: the two functional
    # cents against the receivable's one leave a cent of FX rounding
    assert functional(credit) == {
        ("2400", Side.DEBIT, ""): Decimal("0.01"),
        ("4000", Side.DEBIT, "credited revenue already recognised"): Decimal("0.01"),
        ("1200", Side.CREDIT, ""): Decimal("0.01"),
        ("7900", Side.CREDIT, "FX rounding"): Decimal("0.01")}
    kept = sum(p.functional_amount.amount for p in cut.periods if p.functional_amount)
    assert kept == Decimal("0.06")  # what deferred revenue now holds: 0.07 - 0.01


def test_the_write_off_settling_a_foreign_receivable_writes_off_what_is_left_of_it() -> None:
    # 1,287.00 EUR booked at 1.12 = 1,441.44 USD; 10.04 paid (11.2448 -> 11.24) and
    # 1,255.26 credited (1,405.8912 -> 1,405.89) leave 24.31; the last 21.70 converted on
    # its own is 24.304 -> 24.30, and a cent would stay on a receivable that is settled
    settles = [Decimal("1287.00"), Decimal("-10.04"), Decimal("-1255.26")]
    entry = posting.write_off_entry("in_eur", m("21.70", "EUR"), "US01", "c1", UPGRADE, US,
                                    rate=Decimal("1.12"), settles=settles)
    assert functional(entry) == {("6200", Side.DEBIT, ""): Decimal("24.31"),
                                 ("1200", Side.CREDIT, ""): Decimal("24.31")}


def test_the_credit_memo_settling_a_foreign_receivable_relieves_what_is_left_of_it() -> None:
    # the write-off's receivable above, settled by a credit memo of the last 21.70 EUR
    # instead: 24.31 relieved (24.30 converted on its own), the released deferral stays
    # at the booking rate (24.30), and the cent between them is FX rounding
    settles = {"in_eur": [Decimal("1287.00"), Decimal("-10.04"), Decimal("-1255.26")]}
    entry = posting.credit_memo_entry(memo([("21.70", "0.00", None)]), US,
                                      rate=Decimal("1.12"), settles=settles)
    assert functional(entry) == {("2400", Side.DEBIT, ""): Decimal("24.30"),
                                 ("1200", Side.CREDIT, ""): Decimal("24.31"),
                                 ("7900", Side.DEBIT, "FX rounding"): Decimal("0.01")}


def test_a_memo_over_two_invoices_settles_only_the_part_it_was_told_settles() -> None:
    rates = {"in_eur": Decimal("1.12"), "in_b": Decimal("1.10")}
    settles = {"in_eur": [Decimal("1287.00"), Decimal("-10.04"), Decimal("-1255.26")]}
    entry = posting.credit_memo_entry(
        memo([("20.00", "1.70", "in_eur"), ("50.00", "0.00", "in_b")]), US,
        rate=rates["in_eur"], invoice_rates=rates, settles=settles)
    # in_eur's 21.70 relieves 24.31, in_b's 50.00 its own 55.00; tax 1.70 at 1.12 -> 1.90,
    # net 20.00 at 1.12 + 50.00 at 1.10 = 77.40
    assert functional(entry) == {("2400", Side.DEBIT, ""): Decimal("77.40"),
                                 ("2200", Side.DEBIT, ""): Decimal("1.90"),
                                 ("1200", Side.CREDIT, ""): Decimal("79.31"),
                                 ("7900", Side.DEBIT, "FX rounding"): Decimal("0.01")}


async def test_the_rules_activity_passes_what_the_memo_settles() -> None:
    rules = RulesActivities(ENTITIES, rates=FakeRates({("EUR", "USD"): TODAY}))
    settles = {"in_eur": [Decimal("1287.00"), Decimal("-10.04"), Decimal("-1255.26")]}
    entry = await ActivityEnvironment().run(rules.credit_memo_journal, CreditMemoJournalInput(
        credit_memo=memo([("21.70", "0.00", None)]), correlation_id="c",
        invoice_rate=Decimal("1.12"), settles=settles))
    assert functional(entry)[("1200", Side.CREDIT, "")] == Decimal("24.31")


def test_a_release_after_its_memo_moves_the_deferral_as_the_schedules_held_it() -> None:
    # 604.93 EUR released (665.43 USD as the schedules held it, one cent more than
    # 604.93 at 1.10): both lines carry the schedules' amount, no rounding line
    entry = posting.memo_release_entry("cm_eur", m("604.93", "EUR"), "US01", "c1", UPGRADE,
                                       US, rate=BOOKED, released_functional=m("665.43", "USD"))
    assert entry.external_id == "cmr:cm_eur"
    assert functional(entry) == {
        ("2400", Side.DEBIT, ""): Decimal("665.43"),
        ("4000", Side.CREDIT, "deferral released after the credit memo"): Decimal("665.43")}


def test_a_memo_released_beyond_its_schedule_ends_moves_the_difference_back() -> None:
    # the memo debited deferred revenue with 30.08 EUR more than the amendment, applied
    # again, released (33.09 USD as the schedules held it): revenue takes it back
    entry = posting.memo_release_entry("cm_eur", m("-30.08", "EUR"), "US01", "c1", UPGRADE,
                                       US, rate=BOOKED, released_functional=m("-33.09", "USD"))
    assert functional(entry) == {
        ("4000", Side.DEBIT, ""): Decimal("33.09"),
        ("2400", Side.CREDIT, "deferral the credit memo released beyond its schedule ends"):
            Decimal("33.09")}
