"""Helpers for flow tests on the time-skipping server with the in-memory ports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.erp.routing import RoutingTable
from canonical.billing import BillingReason
from canonical.catalog import BillingPeriod
from canonical.events import (
    BusinessKeys,
    InvoiceVoided,
    InvoiceVoidedEvent,
    PaymentFailed,
    PaymentFailedEvent,
    SubscriptionAmended,
    SubscriptionAmendedEvent,
    SubscriptionCancelled,
    SubscriptionCancelledEvent,
)
from canonical.money import Money
from canonical.payment import PaymentFailure
from canonical.subscription import Amendment, ProrationBasis, SubscriptionItem
from devstack import streams
from devstack.binaries import temporal_test_server
from payload_converter import shared_data_converter
from ports import Ports
from settings import load_entities
from tests.unit.fakes import (
    FakeCrm,
    FakeErp,
    FakePayments,
    FakeProvisioning,
    FakeRates,
    FakeTax,
)
from worker import build_workers
from workflows.config import CODE_VERSION, FlowConfig
from workflows.flow import ParkedStep
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionInput, SubscriptionView

ENTITIES = load_entities(Path(__file__).resolve().parents[2] / "config" / "entities.toml")
USD = "USD"


@dataclass
class World:
    crm: FakeCrm = field(default_factory=FakeCrm)
    tax: FakeTax = field(default_factory=FakeTax)
    erp: FakeErp = field(default_factory=lambda: FakeErp("erp-fake"))
    provisioning: FakeProvisioning = field(default_factory=FakeProvisioning)
    payments: FakePayments = field(default_factory=FakePayments)
    rates: FakeRates | None = None  # foreign-currency documents park without
    billing: Any = None  # the billing system told of write-offs (adapters/billing)
    # more ERP targets beside erp-fake, and the table that routes to them
    erps: dict[str, Any] = field(default_factory=dict)
    routing: RoutingTable = field(default_factory=lambda: RoutingTable(default="erp-fake"))

    def ports(self) -> Ports:
        return Ports(crm=self.crm, tax=self.tax, provisioning=self.provisioning,
                     erps={"erp-fake": self.erp, **self.erps}, payments=self.payments,
                     rates=self.rates, billing=self.billing)


@contextlib.asynccontextmanager
async def fresh_ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of its own, so skipping months does not move other tests."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=shared_data_converter, test_server_existing_path=temporal_test_server())
    try:
        yield env
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def running(client: Client, task_queue: str, world: World, *,
                  max_cached_workflows: int = 2000, sandboxed: bool = True,
                  **config: Any) -> AsyncIterator[FlowConfig]:
    workers = build_workers(client, world.ports(), routing=world.routing,
                            entities=ENTITIES, task_queue=task_queue,
                            erp_task_queue=f"{task_queue}-erp",
                            max_cached_workflows=max_cached_workflows, sandboxed=sandboxed)
    # search attributes off unless asked for: the time-skipping server has none of ours
    settings: dict[str, Any] = {"renewals_enabled": False, "activity_max_attempts": 2,
                                "activity_initial_interval_s": 0.1,
                                "search_attributes": False, **config}
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield FlowConfig(code_version=CODE_VERSION, task_queue=task_queue,
                         erp_task_queue=f"{task_queue}-erp", **settings)


async def send(client: Client, config: FlowConfig, events: Sequence[Any]) -> WorkflowHandle:
    handle = None
    for event in events:
        handle = await client.start_workflow(
            SubscriptionWorkflow.run,
            SubscriptionInput(subscription_id=event.subscription_id, config=config),
            id=entity_workflow_id(event.subscription_id), task_queue=config.task_queue,
            start_signal="submit", start_signal_args=[event])
    assert handle is not None
    return handle


POLL_DEADLINE_S = 90.0  # generous: the machine is shared and may be slow


async def until(handle: WorkflowHandle, done: Callable[[SubscriptionView], bool],
                env: WorkflowEnvironment | None = None, step: dt.timedelta | None = None,
                tries: int = 300) -> SubscriptionView:
    """Poll the entity's state until `done`; with `env` and `step`, skip time between polls.

    Without skipping, polls until POLL_DEADLINE_S of real time; with it, `tries` steps.
    """
    view = None
    deadline = time.monotonic() + POLL_DEADLINE_S
    for n in itertools.count():
        if (step is None and time.monotonic() > deadline) or (step is not None and n >= tries):
            break
        try:
            view = await handle.query(SubscriptionWorkflow.state)
        except RPCError:  # e.g. queried while it continues as new: ask again
            await asyncio.sleep(0.1)
            continue
        if done(view):
            return view
        if env is not None and step is not None:
            await env.sleep(step)
        else:
            await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached: {view}")


async def parked_step(handle: WorkflowHandle) -> ParkedStep:
    """Wait until a flow (which may not have started yet) parks; its parked step."""
    deadline = time.monotonic() + POLL_DEADLINE_S
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):  # not started yet
            found = await handle.query("parked", result_type=ParkedStep)
            if found is not None:
                return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never parked")


async def until_new_run(handle: WorkflowHandle, run_id: str) -> WorkflowExecutionDescription:
    """Wait (by describe, not query) until the entity has continued as new from `run_id`.

    An entity whose run held only its activation continues as new a few seconds after it
    (subscription.FRESH_RUN_AFTER); a query that reaches the time-skipping test server
    while that happens can hang for 30 s and leave its time skipping locked, so tests
    that need the fresh run wait for it this way.
    """
    for _ in range(400):
        described = await handle.describe()
        if described.run_id != run_id:
            return described
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} is still on run {run_id}")


def quiet(applied: int) -> Callable[[SubscriptionView], bool]:
    """All `applied` events applied, nothing pending, nothing running (timers may wait)."""
    return lambda v: (v.events_applied >= applied and not v.pending and not v.busy)


# --- event builders on top of devstack.streams -------------------------------------------


def annual(sub_id: str, start: dt.date = dt.date(2026, 1, 1), price: str = "1200.00",
           *, months: int = 12, invoice: bool = True,
           period: BillingPeriod = BillingPeriod.YEAR) -> streams.Lifecycle:
    """Activation (+ the term's invoice) of a one-item subscription in US01."""
    plan = streams.plan("pro", USD, price, period)
    life = streams.lifecycle(sub_id, streams.customer(f"cus_{sub_id}", "US"), start,
                             [(plan, 1)], months=months)
    life.activate()
    if invoice:
        end = (life.subscription.term_end if period == BillingPeriod.YEAR
               else streams.add_months(start, 1))
        life.invoice(f"in_{sub_id}", start, end, BillingReason.SUBSCRIPTION_CREATE)
    return life


def monthly(sub_id: str, invoices: int) -> streams.Lifecycle:
    """Activation of a monthly subscription and its first `invoices` cycle invoices."""
    life = annual(sub_id, price="100.00", period=BillingPeriod.MONTH, invoice=False)
    start = life.subscription.term_start
    for n in range(invoices):
        life.invoice(f"in_{sub_id}_{n + 1}", streams.add_months(start, n),
                     streams.add_months(start, n + 1), BillingReason.SUBSCRIPTION_CYCLE)
    return life


def _env(life: streams.Lifecycle, suffix: str, at: dt.datetime) -> dict[str, Any]:
    return {"event_id": f"evt_{life.subscription_id}_{suffix}", "occurred_at": at,
            "source": "billing", "sequence": len(life.events) + 1,
            "correlation_id": f"corr_{life.subscription_id}",
            "keys": BusinessKeys(subscription_id=life.subscription_id)}


def amend(life: streams.Lifecycle, n: int, at: dt.datetime, price: str, quantity: int = 1,
          basis: ProrationBasis = ProrationBasis.EXACT_TIME,
          period: BillingPeriod = BillingPeriod.YEAR) -> Amendment:
    sid = life.subscription_id
    plan = streams.plan(f"plan-{price.replace('.', '-')}", USD, price, period)
    amendment = Amendment(amendment_id=f"am_{sid}_{n}", subscription_id=sid, effective_at=at,
                          new_items=[SubscriptionItem(item_id=f"{sid}-item1", plan=plan,
                                                      quantity=quantity)],
                          credit_memo_id=f"cm_{sid}_{n}", invoice_id=f"in_{sid}_a{n}",
                          proration_basis=basis)
    life.events.append(SubscriptionAmendedEvent(**_env(life, f"amend_{n}", at),
                                                payload=SubscriptionAmended(amendment=amendment)))
    return amendment


def fail_payment(life: streams.Lifecycle, invoice_id: str, amount: Money,
                 on: dt.date) -> None:
    failure = PaymentFailure(payment_id=f"py_{invoice_id}_f", invoice_id=invoice_id,
                             customer_id=life.customer.customer_id, amount=amount,
                             failure_code="card_declined", failed_on=on)
    at = dt.datetime.combine(on, dt.time(8), dt.UTC)
    life.events.append(PaymentFailedEvent(**_env(life, f"fail_{invoice_id}", at),
                                          payload=PaymentFailed(failure=failure)))


def unpaid(sub_id: str) -> tuple[World, streams.Lifecycle]:
    """An annual subscription whose payment fails on 1 February, and every retry with it:
    its dunning ladder runs to the cancellation and the write-off."""
    world, life = World(), annual(sub_id)
    fail_payment(life, f"in_{sub_id}", gross("1200.00"), dt.date(2026, 2, 1))
    world.payments.fail_first[f"in_{sub_id}"] = 99
    return world, life


def cancel(life: streams.Lifecycle, on: dt.date) -> None:
    at = dt.datetime.combine(on, dt.time(8), dt.UTC)
    life.events.append(SubscriptionCancelledEvent(
        **_env(life, "cancel", at),
        payload=SubscriptionCancelled(subscription_id=life.subscription_id, effective_on=on,
                                      reason="customer_request")))


def gross(net: str) -> Money:
    """Net plus FakeTax's 10 %."""
    return Money.of(Decimal(net) * Decimal("1.10"), USD)


class GatedCrm(FakeCrm):
    """Holds one notice until the test opens the gate (to land a signal in that step)."""

    def __init__(self, notice_id: str) -> None:
        super().__init__()
        self.held, self.reached, self.gate = notice_id, asyncio.Event(), asyncio.Event()

    async def send_notice(self, notice_id: str, *args: Any, **kwargs: Any) -> Any:
        if notice_id == self.held:
            self.reached.set()
            await self.gate.wait()
        return await super().send_notice(notice_id, *args, **kwargs)


def void(life: streams.Lifecycle, invoice_id: str, on: dt.date) -> None:
    at = dt.datetime.combine(on, dt.time(10), dt.UTC)
    life.events.append(InvoiceVoidedEvent(**_env(life, f"void_{invoice_id}", at),
                                          payload=InvoiceVoided(invoice_id=invoice_id,
                                                                voided_on=on,
                                                                reason="billed in error")))
