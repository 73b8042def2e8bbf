"""The entity's invoice view keeps what moved a foreign receivable, for the settling payment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from canonical.billing import CreditMemo, CreditMemoLine
from canonical.money import Money
from workflows.ledger_view import invoice_movements, memo_settles
from workflows.subscription_state import InvoiceStatus, InvoiceView


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def view(rate: Decimal | None = Decimal("1.1"), movements: list[Decimal] | None = None
         ) -> InvoiceView:
    return InvoiceView(invoice_id="in_1", total=eur("1287.00"), paid=eur("0"), credited=eur("0"),
                       status=InvoiceStatus.POSTED, rate=rate, movements=movements)


BOOKED = [Decimal("1287.00")]  # what a posted foreign invoice's view starts with


def test_payments_credits_and_refunds_are_kept_in_order_with_their_sign() -> None:
    v = (view(movements=BOOKED).with_payment("p1", eur("300.05")).with_credit(eur("100.00"))
         .with_payment("r1", -eur("50.00")))
    assert v.movements == [Decimal("1287.00"), Decimal("-300.05"), Decimal("-100.00"),
                           Decimal("50.00")]
    assert v.open_amount == eur("936.95")
    assert v.settled_by() == v.movements


def test_a_settled_receivable_starts_afresh_and_a_refund_reopens_it() -> None:
    paid = view(movements=BOOKED).with_payment("p1", eur("1287.00"))
    assert paid.movements == []  # nothing is left in either currency
    reopened = paid.with_payment("r1", -eur("40.00"))
    assert reopened.movements == [Decimal("40.00")]
    assert reopened.settled_by() == [Decimal("40.00")]


def test_only_the_amount_that_settles_a_foreign_invoice_with_a_known_history_settles() -> None:
    v = view(movements=BOOKED).with_payment("p1", eur("300.05"))
    assert v.settled_by(eur("986.95")) == [Decimal("1287.00"), Decimal("-300.05")]
    assert v.settled_by(eur("900.00")) is None  # a part payment
    # in the functional currency, or a view carried over from before movements were kept
    assert view(rate=None, movements=BOOKED).settled_by(eur("1287.00")) is None
    assert view(movements=None).with_payment("p1", eur("300.05")).settled_by() is None


def test_payments_carried_from_a_reversed_issue_make_the_history_unknown() -> None:
    reversed_issue = view(movements=BOOKED).with_payment("p1", eur("300.05"))
    reissued = view(movements=BOOKED).carrying_payments(reversed_issue)
    assert reissued.open_amount == eur("986.95")
    assert reissued.movements is None and reissued.settled_by() is None


def test_a_memo_settles_the_invoices_whose_whole_open_amount_it_credits() -> None:
    a = view(movements=BOOKED).with_payment("p1", eur("1000.00"))  # 287.00 open
    b = view(movements=[Decimal("50.00")]).model_copy(update={"invoice_id": "in_2"})
    c = view(movements=None).model_copy(update={"invoice_id": "in_3"})
    movements = invoice_movements({"in_1": a, "in_2": b, "in_3": c,
                                   "in_4": view(rate=None).model_copy(
                                       update={"invoice_id": "in_4"})})
    assert movements == {"in_1": [Decimal("1287.00"), Decimal("-1000.00")],
                         "in_2": [Decimal("50.00")]}
    memo = CreditMemo(
        credit_memo_id="cm", customer_id="c1", invoice_id="in_1", legal_entity="US01",
        currency="EUR", issued_on=dt.date(2026, 7, 1), reason="r",
        lines=[CreditMemoLine(line_id="1", description="x", amount=eur("280.00"),
                              tax_amount=eur("7.00")),  # in_1's 287.00, tax included
               # 10.00 short of in_2's open amount
               CreditMemoLine(line_id="2", description="x", amount=eur("40.00"),
                              tax_amount=eur("0.00"), invoice_id="in_2"),
               # in_3's movements are unknown
               CreditMemoLine(line_id="3", description="x", amount=eur("5.00"),
                              tax_amount=eur("0.00"), invoice_id="in_3")])
    assert memo_settles(memo, movements) == {"in_1": movements["in_1"]}


def test_a_voided_invoice_keeps_no_movements() -> None:
    # the reversal of the invoice, not a movement, relieved it
    voided = view(movements=BOOKED).with_payment("p1", eur("300.00")).voided(eur("987.00"))
    assert (voided.status, voided.open_amount, voided.movements) == (
        InvoiceStatus.VOIDED, eur("0.00"), None)
