"""SubscriptionWorkflow on the time-skipping server with in-memory ports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import InvoicePosting, PaymentPosting
from adapters.erp.routing import RoutingTable
from canonical.accounts import AccountRole
from canonical.money import Money
from devstack import streams
from ports import Ports
from settings import load_entities
from tests.unit.fakes import FakeCrm, FakeErp, FakeProvisioning, FakeRates, FakeTax
from tests.unit.flows_harness import until_new_run
from worker import build_workers
from workflows.config import CODE_VERSION, FlowConfig
from workflows.subscription import SubscriptionWorkflow, entity_workflow_id
from workflows.subscription_state import SubscriptionInput, SubscriptionView

ENTITIES = load_entities(Path("config/entities.toml"))
US01 = ENTITIES["US01"].chart


@contextlib.asynccontextmanager
async def running(client: Client, task_queue: str, ports: Ports) -> AsyncIterator[FlowConfig]:
    workers = build_workers(client, ports, routing=RoutingTable(default="erp-fake"),
                            entities=ENTITIES, task_queue=task_queue,
                            erp_task_queue=f"{task_queue}-erp")
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield FlowConfig(code_version=CODE_VERSION, task_queue=task_queue,
                         erp_task_queue=f"{task_queue}-erp",
                         search_attributes=False, activity_max_attempts=2,
                         activity_initial_interval_s=0.1, renewals_enabled=False)


def fake_ports() -> Ports:
    return Ports(crm=FakeCrm(), tax=FakeTax(), provisioning=FakeProvisioning(),
                 erps={"erp-fake": FakeErp("erp-fake")})


def fake_erp(ports: Ports) -> FakeErp:
    """The FakeErp of `fake_ports()`."""
    erp = ports.erps["erp-fake"]
    assert isinstance(erp, FakeErp)
    return erp


async def send(client: Client, config: FlowConfig, events: list) -> WorkflowHandle:
    handle = None
    for event in events:
        handle = await client.start_workflow(
            SubscriptionWorkflow.run,
            SubscriptionInput(subscription_id=event.subscription_id, config=config),
            id=entity_workflow_id(event.subscription_id), task_queue=config.task_queue,
            start_signal="submit", start_signal_args=[event])
    assert handle is not None
    return handle


async def settled(handle: WorkflowHandle, applied: int, pending: int = 0) -> SubscriptionView:
    for _ in range(1800):  # up to ~90 s: the machine is shared and may be slow
        view = await handle.query(SubscriptionWorkflow.state)
        if view.events_applied >= applied and len(view.pending) == pending:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {view}")


def three_event_lifecycle(sub_id: str) -> streams.Lifecycle:
    life = streams.lifecycle(sub_id, streams.customer(f"cus_{sub_id}", "US"),
                             dt.date(2026, 1, 15))
    life.activate()
    inv = life.invoice(f"in_{sub_id}", life.subscription.term_start, life.subscription.term_end)
    gross = inv.subtotal.amount * Decimal("1.10")  # FakeTax charges 10 %
    life.pay(f"py_{sub_id}", inv.invoice_id, Money.of(gross, "USD"), dt.date(2026, 1, 20))
    return life


async def test_activation_invoice_and_payment_post_once(ts_env: WorkflowEnvironment,
                                                         task_queue: str) -> None:
    ports = fake_ports()
    life = three_event_lifecycle("sub_a")
    async with running(ts_env.client, task_queue, ports) as config:
        handle = await send(ts_env.client, config, life.events)
        view = await settled(handle, 3)
    erp = fake_erp(ports)
    # how events batch depends on timing, so the posting order may differ; each posts once
    assert sorted(erp.kinds()) == ["contract", "customer", "invoice", "payment", "schedule"]
    assert view.state == "Active"
    assert view.amount_due == {"USD": Decimal("0.00")}
    assert [i.status for i in view.invoices] == ["paid"]


async def test_duplicates_and_reordering_change_nothing(ts_env: WorkflowEnvironment,
                                                        task_queue: str) -> None:
    ports = fake_ports()
    life = three_event_lifecycle("sub_b")
    shuffled = [life.events[2], life.events[1], life.events[2], life.events[0], life.events[1]]
    async with running(ts_env.client, task_queue, ports) as config:
        handle = await send(ts_env.client, config, shuffled)
        view = await settled(handle, 3)
    erp = fake_erp(ports)
    assert sorted(erp.kinds()) == sorted(["customer", "contract", "invoice", "schedule",
                                          "payment"])
    assert view.events_applied == 3
    assert view.last_sequence == 3


async def test_invoice_without_activation_waits_visibly(ts_env: WorkflowEnvironment,
                                                        task_queue: str) -> None:
    ports = fake_ports()
    life = three_event_lifecycle("sub_c")
    unsequenced = [e.model_copy(update={"sequence": None}) for e in life.events[1:]]
    async with running(ts_env.client, task_queue, ports) as config:
        handle = await send(ts_env.client, config, unsequenced)
        await asyncio.sleep(0.5)
        view = await handle.query(SubscriptionWorkflow.state)
    assert view.events_applied == 0
    assert {p.waiting_for for p in view.pending} == {"activation"}
    assert fake_erp(ports).documents == {}


async def test_sequence_gap_proceeds_after_the_wait_with_a_finding(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    ports = fake_ports()
    life = three_event_lifecycle("sub_d")
    async with running(ts_env.client, task_queue, ports) as config:
        # a short gap wait in real time: skipping time over it while the entity then
        # continues as new (its run applied only the activation) hung the time-skipping
        # server's sleep in full suite runs
        config = config.model_copy(update={"sequence_gap_wait_s": 1.0})
        handle = await send(ts_env.client, config, [life.events[0], life.events[2]])
        assert handle.result_run_id
        await until_new_run(handle, handle.result_run_id)
        view = await handle.query(SubscriptionWorkflow.state)
    assert view.events_applied == 1  # the activation, carried into the fresh run
    assert [f.kind for f in view.findings] == ["SequenceGap"]
    # the payment went past the gap but still waits for its invoice, visibly
    assert [p.waiting_for for p in view.pending] == ["invoice in_sub_d"]


async def test_a_batch_settling_a_foreign_invoice_leaves_nothing_on_its_receivable(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    # the invoice and both its payments in one signal: the second payment, which settles
    # it, relieves what the first left of the functional receivable (the batch's own
    # projection of the invoice, which has no view yet)
    ports = fake_ports()
    ports.rates = FakeRates({("EUR", "USD"): Decimal("1.10")})
    cust = streams.customer("cus_sub_fxb", "US").model_copy(update={"currency": "EUR"})
    life = streams.lifecycle("sub_fxb", cust, dt.date(2026, 1, 1),
                             [(streams.plan("pro-annual", "EUR", "1000.00"), 1)])
    life.activate()
    life.invoice("in_fxb", dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    first, rest = Money.of("300.05", "EUR"), Money.of("799.95", "EUR")  # 1,100.00 with tax
    life.pay("py_fxb_1", "in_fxb", first, dt.date(2026, 1, 20))
    life.pay("py_fxb_2", "in_fxb", rest, dt.date(2026, 1, 21))
    # each converted on its own: 330.055 -> 330.06 and 879.945 -> 879.95, a cent more
    # than the 1,210.00 booked
    async with running(ts_env.client, task_queue, ports) as config:
        activation, documents = life.events[0], life.events[1:]
        handle = await send(ts_env.client, config, [activation])
        await handle.signal(SubscriptionWorkflow.submit_batch, documents)
        await settled(handle, 4)
    posted = fake_erp(ports).documents
    ar = US01.code(AccountRole.ACCOUNTS_RECEIVABLE)

    def relief(external_id: str) -> Decimal:
        posting = posted[external_id]
        assert isinstance(posting, InvoicePosting | PaymentPosting)
        relieved = [ln.functional_amount for ln in posting.entry.lines if ln.account == ar]
        assert None not in relieved
        return sum((m.amount for m in relieved if m is not None), Decimal(0))

    assert relief("inv:in_fxb") == Decimal("1210.00")
    assert (relief("pay:py_fxb_1"), relief("pay:py_fxb_2")) == (Decimal("330.06"),
                                                                Decimal("879.94"))
