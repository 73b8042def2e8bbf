"""Dunning edge cases on the time-skipping server: late payments, voids, repeated failures."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.payments.port import CollectionRequest, CollectionResult
from canonical.money import Money
from devstack.streams import Lifecycle
from tests.unit.fakes import FakePayments
from tests.unit.flows_harness import (
    GatedCrm,
    World,
    amend,
    annual,
    cancel,
    fail_payment,
    fresh_ts_env,
    gross,
    quiet,
    running,
    send,
    unpaid,
    until,
    void,
)
from tests.unit.test_dunning_flow import DAY, FEB_1, dunning_waits
from workflows.config import FlowConfig
from workflows.dunning import DunningFlow
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_state import CancellationRequest


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_ts_env() as e:
        yield e


async def test_payment_during_the_last_attempts_notice_stops_the_ladder_before_cancelling(
        env: WorkflowEnvironment, task_queue: str) -> None:
    crm = GatedCrm("dun:in_sub_late:retry_failed:3")
    world, life = World(crm=crm), annual("sub_late")
    fail_payment(life, "in_sub_late", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_late"] = 99
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_late")
        for _ in range(30):  # skip days until the last attempt failed and its notice waits
            if crm.reached.is_set():
                break
            await env.sleep(DAY)
        assert crm.reached.is_set()
        life.pay("py_sub_late", "in_sub_late", gross("1200.00"), dt.date(2026, 2, 8))
        await send(env.client, config, life.events[-1:])
        for _ in range(300):  # the entity has told the ladder
            if (await dunning.query(DunningFlow.state)).amount_due.is_zero():
                break
            await asyncio.sleep(0.05)
        crm.gate.set()
        result = await dunning.result()
        view = await until(handle, lambda v: v.state == "Active" and quiet(4)(v))
    assert (result.state, result.paid_by, result.attempts) == ("Recovered", "py_sub_late", 3)
    assert result.cancellation is None and result.written_off is None
    assert not {"cm:sub_late-cancel", "wo:in_sub_late"} & set(world.erp.documents)
    assert world.provisioning.calls == ["grant", "suspended", "granted"]
    assert view.amount_due == {"USD": Money.of("0.00", "USD").amount}


async def test_void_stops_the_ladder_and_restores_entitlements(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_void")
    fail_payment(life, "in_sub_void", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_void"] = 99
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_void")
        for _ in range(100):  # skip days until the middle attempt has suspended
            if (await dunning.query(DunningFlow.state)).suspended:
                break
            await env.sleep(DAY)
        void(life, "in_sub_void", dt.date(2026, 2, 7))
        await send(env.client, config, life.events[-1:])
        result = await dunning.result()
        view = await until(handle, lambda v: v.state == "Active" and quiet(4)(v))
    assert (result.state, result.attempts) == ("Voided", 2)
    assert world.provisioning.calls == ["grant", "suspended", "granted"]
    assert world.erp.reversals["rev-inv:in_sub_void"] == "inv:in_sub_void"
    assert not {"cm:sub_void-cancel", "wo:in_sub_void"} & set(world.erp.documents)
    assert [i.status for i in view.invoices] == ["voided"]
    assert len(world.payments.attempts) == 2  # no attempt after the void


async def test_second_failure_of_an_invoice_in_dunning_starts_no_second_ladder(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = World(), annual("sub_twice")
    fail_payment(life, "in_sub_twice", gross("1200.00"), FEB_1)
    world.payments.fail_first["in_sub_twice"] = 1  # attempt 1 declined, attempt 2 collects
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        # The billing system reports another declined attempt of the same invoice, and
        # redelivers it.
        life.fail("py_in_sub_twice_f2", "in_sub_twice", gross("1200.00"), dt.date(2026, 2, 2))
        await send(env.client, config, life.events[-1:] * 2)
        await until(handle, quiet(4))
        view = await until(handle, lambda v: v.state == "Active" and not v.children, env, DAY)
    assert [a.attempt_id for a in world.payments.attempts] == ["dun:in_sub_twice:1",
                                                               "dun:in_sub_twice:2"]
    assert world.crm.kinds("sub_twice").count("dunning_payment_failed") == 1
    assert [i.status for i in view.invoices] == ["paid"]
    assert view.events_applied == 4 and view.findings == []


async def test_a_credit_during_the_ladder_is_neither_collected_nor_written_off(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = unpaid("sub_cr")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_cr")
        due = (await dunning.query(DunningFlow.state)).amount_due
        life.credit("cn_sub_cr", "in_sub_cr", Money.of("100.00", "USD"), dt.date(2026, 2, 2))
        await send(env.client, config, life.events[-1:])
        for _ in range(300):  # the entity has told the ladder
            if (await dunning.query(DunningFlow.state)).amount_due != due:
                break
            await asyncio.sleep(0.05)
        await until(handle, lambda v: v.state == "Cancelled", env, DAY)
        result = await dunning.result()
    # the retries asked for what was left, and the write-off took the rest after the
    # cancellation's credit (1,182.58, as without the service credit): 137.42 - 100.00
    assert [a.amount for a in world.payments.attempts] == [Money.of("1220.00", "USD")] * 3
    assert result.written_off == Money.of("37.42", "USD")
    assert "1200" not in world.erp.balances()  # nothing left on AR, nothing below zero


async def test_an_amendments_credit_of_the_dunned_invoice_tells_the_ladder(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = unpaid("sub_am")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_am")
        amend(life, 1, dt.datetime(2026, 2, 2, tzinfo=dt.UTC), "2400.00")
        await send(env.client, config, life.events[-1:])
        view = await until(handle, lambda v: v.events_applied == 4 and not v.busy)
        left = next(i.open_amount for i in view.invoices if i.invoice_id == "in_sub_am")
        assert left < gross("1200.00")  # the upgrade credited the unused service
        for _ in range(300):  # the entity has told the ladder
            if (await dunning.query(DunningFlow.state)).amount_due == left:
                break
            await asyncio.sleep(0.05)
        await until(handle, lambda v: v.state == "Cancelled", env, DAY)
        result = await dunning.result()
    # every retry asked for what the credit left, not the invoice's whole gross
    assert [a.amount for a in world.payments.attempts] == [left] * 3
    assert result.state == "WrittenOff"
    # the ladder's cancellation credits the service as the upgrade left it: the rebill's
    # unused part, not the old line a second time; AR keeps only the rebill's used days
    memo = world.erp.documents["cm:sub_am-cancel"].credit_memo  # type: ignore[union-attr]
    assert {ln.invoice_id for ln in memo.lines} == {"in_sub_am_a1"}
    rebill = next(i.total for i in view.invoices if i.invoice_id == "in_sub_am_a1")
    assert world.erp.balances()["1200"] == (rebill - memo.total).amount > 0


async def test_a_cancellation_requested_during_the_ladder_leaves_it_only_the_rest(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = unpaid("sub_cc")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_cc")
        await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                    CancellationRequest(request_id="r1", when="immediately",
                                                        prorate=True))
        view = await until(handle, lambda v: v.state == "Cancelled" and not v.busy)
        left = next(i.open_amount for i in view.invoices if i.invoice_id == "in_sub_cc")
        assert Money.zero("USD") < left < gross("1200.00")
        await until(handle, lambda v: not v.children, env, DAY)  # the ladder to its end
        result = await dunning.result()
    assert (result.state, result.written_off) == ("WrittenOff", left)
    assert {a.amount for a in world.payments.attempts} <= {left}
    assert not [k for k in world.erp.documents if k.startswith("cm:")][1:]  # one credit
    assert "1200" not in world.erp.balances()  # the write-off took only what was left


async def cancelled_after_amendment(env: WorkflowEnvironment, config: FlowConfig,
                                    world: World, life: Lifecycle) -> WorkflowHandle:
    """`unpaid`'s subscription upgraded on 2 February, the rebill's payment failing too, then
    the billing system's cancellation as of 1 February: the upgrade is reversed (its credit
    of the dunned invoice re-opened, its rebill voided) while both ladders run."""
    handle = await send(env.client, config, life.events)
    await until(handle, dunning_waits)
    amend(life, 1, dt.datetime(2026, 2, 2, tzinfo=dt.UTC), "2400.00")
    await send(env.client, config, life.events[-1:])
    view = await until(handle, lambda v: v.events_applied == 4 and not v.busy)
    rebill = next(i.total for i in view.invoices if i.invoice_id.endswith("_a1"))
    fail_payment(life, f"in_{life.subscription_id}_a1", rebill, dt.date(2026, 2, 3))
    world.payments.fail_first[f"in_{life.subscription_id}_a1"] = 99
    await send(env.client, config, life.events[-1:])
    await until(handle, lambda v: len(v.children) == 2)  # a ladder for each
    cancel(life, dt.date(2026, 2, 1))
    await send(env.client, config, life.events[-1:])
    return handle


async def test_a_late_cancellation_reopening_an_amendments_credit_tells_the_ladders(
        env: WorkflowEnvironment, task_queue: str) -> None:
    world, life = unpaid("sub_lc")
    async with running(env.client, task_queue, world) as config:
        handle = await cancelled_after_amendment(env, config, world, life)
        view = await until(handle, lambda v: v.state == "Cancelled" and not v.busy)
        left = next(i.open_amount for i in view.invoices if i.invoice_id == "in_sub_lc")
        assert left == gross("1200.00")  # no credit: the cancellation is the billing's
        dunning = env.client.get_workflow_handle_for(DunningFlow.run, "dunning-in_sub_lc")
        for _ in range(300):  # the entity has told the ladder
            if (await dunning.query(DunningFlow.state)).amount_due == left:
                break
            await asyncio.sleep(0.05)
        await until(handle, lambda v: not v.children, env, DAY)  # the ladders to their end
        result = await dunning.result()
        rebill_ladder = await env.client.get_workflow_handle_for(
            DunningFlow.run, "dunning-in_sub_lc_a1").result()
    assert (result.state, result.written_off) == ("WrittenOff", left)
    assert rebill_ladder.state == "Voided"  # the rebill was reversed: nothing to collect
    assert "wo:in_sub_lc_a1" not in world.erp.documents
    assert not [k for k in world.erp.documents if k.startswith("cm:sub_lc")]  # no 2nd cancel
    assert "1200" not in world.erp.balances()  # the write-off took all that was open


class EchoedPayments(FakePayments):
    """Collects under the invoice's own payment id (Stripe's PaymentIntent), once the test
    opens the gate: the billing system's webhook of that payment can come first."""

    def __init__(self) -> None:
        super().__init__()
        self.reached, self.gate = asyncio.Event(), asyncio.Event()

    async def collect(self, request: CollectionRequest, *,
                      correlation_id: str) -> CollectionResult:
        self.reached.set()
        await self.gate.wait()
        result = await super().collect(request, correlation_id=correlation_id)
        assert result.payment is not None
        return result.model_copy(update={"payment": result.payment.model_copy(
            update={"payment_id": f"pi_{request.invoice_id}"})})


async def test_a_collection_whose_webhook_came_first_is_one_payment(
        env: WorkflowEnvironment, task_queue: str) -> None:
    payments = EchoedPayments()
    world, life = World(payments=payments), annual("sub_echo")
    fail_payment(life, "in_sub_echo", gross("1200.00"), FEB_1)
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        while not payments.reached.is_set():  # skip to the first retry, held at the gateway
            await env.sleep(DAY)
        life.pay("pi_in_sub_echo", "in_sub_echo", gross("1200.00"), dt.date(2026, 2, 3))
        await send(env.client, config, life.events[-1:])  # Stripe's invoice.paid
        await until(handle, lambda v: v.events_applied == 4)  # the payment applied
        payments.gate.set()
        view = await until(handle, lambda v: v.state == "Active" and not v.children)
    (invoice,) = view.invoices
    assert (invoice.paid, invoice.open_amount) == (gross("1200.00"), Money.zero("USD"))
    assert invoice.payments == ["pi_in_sub_echo"]
    assert world.erp.balances().get("1200", 0) == 0  # posted once: the ERP kept one


async def test_the_webhook_of_a_collection_after_the_ladders_result_is_known_not_flagged(
        env: WorkflowEnvironment, task_queue: str) -> None:
    payments = EchoedPayments()
    payments.gate.set()
    world, life = World(payments=payments), annual("sub_echo2")
    fail_payment(life, "in_sub_echo2", gross("1200.00"), FEB_1)
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        await until(handle, lambda v: v.state == "Active" and not v.children, env, DAY)
        life.pay("pi_in_sub_echo2", "in_sub_echo2", gross("1200.00"), dt.date(2026, 2, 3))
        await send(env.client, config, life.events[-1:])  # Stripe's invoice.paid, later
        view = await until(handle, quiet(4))
    (invoice,) = view.invoices
    assert (invoice.paid, invoice.payments) == (gross("1200.00"), ["pi_in_sub_echo2"])
    assert view.findings == []  # the echo is expected, not a DuplicateDocument
    assert world.erp.balances().get("1200", 0) == 0


async def test_the_billing_systems_cancellation_after_the_ladders_is_not_a_second_one(
        env: WorkflowEnvironment, task_queue: str) -> None:
    """Stripe is not told of the ladder's cancellation (docs/connectors.md): its own
    `customer.subscription.deleted`, later, credits nothing again."""
    world, life = unpaid("sub_del")
    async with running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, dunning_waits)
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
        cancel(life, dt.date(2026, 3, 15))
        await send(env.client, config, life.events[-1:])
        view = await until(handle, quiet(4))
    assert [f.kind for f in view.findings] == ["IllegalEvent"]
    assert [k for k in world.erp.documents if k.startswith("cm:")] == ["cm:sub_del-cancel"]
