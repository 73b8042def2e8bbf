"""A payment after a foreign invoice's write-off: the reversal re-opens exactly what the
write-off relieved, and the payment that settles the invoice relieves exactly that.

A EUR invoice of the USD entity US01, dunned to its end on the time-skipping server: the
ladder's cancellation credits the unused service, the write-off takes the rest (settling:
it relieves what the movements left in USD). The customer then pays that rest; the entity
reverses the write-off first. Converted on its own, the rest is a cent off what the
movements left — before, that cent stayed on AR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical.ledger import Side
from canonical.money import Money
from devstack import streams
from tests.unit.fakes import FakeRates
from tests.unit.flows_harness import (
    World,
    fail_payment,
    fresh_ts_env,
    quiet,
    running,
    send,
    until,
)
from tests.unit.test_dunning_flow import DAY, dunning_waits
from workflows.subscription_state import InvoiceStatus, InvoiceView

RATE = Decimal("1.0837")
AR = "1200"


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


def eur_unpaid(sub_id: str) -> tuple[World, streams.Lifecycle]:
    world = World(rates=FakeRates({("EUR", "USD"): RATE}))
    cust = streams.customer(f"cus_{sub_id}", "US").model_copy(update={"currency": "EUR"})
    start = dt.date(2026, 1, 1)
    life = streams.lifecycle(sub_id, cust, start,
                             [(streams.plan("pro-annual", "EUR", "1000.03"), 1)])
    life.activate()
    life.invoice(f"in_{sub_id}", start, dt.date(2027, 1, 1))
    fail_payment(life, f"in_{sub_id}", Money.of("1000.03", "EUR"),
                 dt.date(2026, 2, 1))
    world.payments.fail_first[f"in_{sub_id}"] = 99
    return world, life


def functional_ar(world: World) -> Decimal:
    return sum((ln.functional_amount.amount if ln.side == Side.DEBIT
                else -ln.functional_amount.amount
                for e in world.erp.entries() for ln in e.lines
                if ln.account == AR and ln.functional_amount is not None), Decimal(0))


async def test_a_payment_after_a_reversed_write_off_leaves_no_cent_on_ar(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = eur_unpaid("sub_wofx")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        view = await until(handle, lambda v: v.state == "Cancelled" and not v.children,
                           env, DAY)
        written_off = world.erp.documents["wo:in_sub_wofx"].entry  # type: ignore[union-attr]
        rest = next(ln.amount for ln in written_off.lines if ln.account == AR)
        assert functional_ar(world) == 0  # the write-off settled it in both currencies
        life.pay("py_after_wo", "in_sub_wofx", rest, dt.date(2026, 4, 1))
        await send(env.client, config, life.events[-1:])
        view = await until(handle, quiet(4))
    (invoice,) = view.invoices
    assert invoice.open_amount.is_zero()
    assert world.erp.reversals == {"rev-wo:in_sub_wofx": "wo:in_sub_wofx"}
    assert functional_ar(world) == 0  # the payment relieved what the reversal re-opened


def test_a_reversed_write_off_restores_the_movements_it_settled() -> None:
    view = InvoiceView(invoice_id="i", total=Money.of("10.00", "EUR"),
                       paid=Money.of("0", "EUR"), credited=Money.of("0", "EUR"),
                       status=InvoiceStatus.POSTED, rate=RATE,
                       movements=[Decimal("10.00"), Decimal("-3.33")])
    written = view.with_credit(view.open_amount)
    assert written.movements == []  # settled
    reopened = written.reopened(view.open_amount, view.movements)
    assert reopened.movements == [Decimal("10.00"), Decimal("-3.33")]
    assert reopened.settled_by() == reopened.movements
