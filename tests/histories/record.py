"""Re-record the replay histories under tests/histories/ (run deliberately, then commit).

    .venv/bin/python -m tests.histories.record [recorder ...]

Runs every flow on the time-skipping server with the in-memory ports and writes each
workflow's history as JSON. tests/replay replays them against the current code, so a
change that breaks replay of a recorded execution fails the suite; re-record only when
the change is meant to be incompatible (and then guard it with `workflow.patched`).
`*_before_*.json` were recorded with the code before issue 3 (commit d1debaf) and are
never re-recorded: they prove that old histories still replay (see PATCH_FLOWS).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from canonical.billing import CreditMemo, CreditMemoLine
from canonical.errors import RejectedError
from canonical.events import (
    BusinessKeys,
    CreditMemoIssued,
    CreditMemoIssuedEvent,
    InvoiceIssued,
    InvoiceIssuedEvent,
    SubscriptionAmended,
)
from canonical.money import Money
from tests.unit.flows_harness import (
    GatedCrm,
    World,
    amend,
    annual,
    cancel,
    fail_payment,
    fresh_ts_env,
    gross,
    parked_step,
    quiet,
    running,
    send,
    until,
    void,
)
from workflows.flow import RetryInput, SkipInput
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_state import CancellationRequest, SubscriptionInput

HERE = Path(__file__).resolve().parent
DAY = dt.timedelta(days=1)


async def save(client: Client, name: str, workflow_id: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    text = json.dumps(json.loads(history.to_json()), indent=1)
    (HERE / f"{name}.json").write_text(text + "\n")
    print(f"recorded {name}.json ({len(history.events)} events)")


def queue() -> str:
    return f"rec-{uuid.uuid4().hex[:8]}"


async def amendment_and_dunning(env: WorkflowEnvironment) -> None:
    """Entity with activation, invoice, an upgrade, a failed payment written off."""
    world, life = World(), annual("sub_rec_a")
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    fail_payment(life, "in_sub_rec_a", gross("1200.00"), dt.date(2026, 8, 1))
    world.payments.fail_first["in_sub_rec_a"] = 99
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled", env, DAY)
        await until(handle, lambda v: not v.busy and not v.children)
    await save(env.client, "subscription", handle.id)
    await save(env.client, "activation", "activation-sub_rec_a")
    await save(env.client, "amendment", "amendment-am_sub_rec_a_1")
    await save(env.client, "dunning_written_off", "dunning-in_sub_rec_a")
    await save(env.client, "cancellation_non_payment", "cancellation-sub_rec_a")


async def recovered_dunning(env: WorkflowEnvironment) -> None:
    world, life = World(), annual("sub_rec_d")
    fail_payment(life, "in_sub_rec_d", gross("1200.00"), dt.date(2026, 2, 1))
    world.payments.fail_first["in_sub_rec_d"] = 1
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.events_applied == 3 and bool(v.children))
        await until(handle, lambda v: v.state == "Active" and not v.children, env, DAY)
    await save(env.client, "dunning_recovered", "dunning-in_sub_rec_d")


async def renewal(env: WorkflowEnvironment) -> None:
    start = (await env.get_current_time()).date().replace(day=1)
    world, life = World(), annual("sub_rec_r", start)
    world.erp.pending_kinds.add("invoice")
    async with running(env.client, queue(), world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        renewal_id = f"renewal-sub_rec_r-{life.subscription.term_end.isoformat()}"
        for _ in range(500):
            state = await env.client.get_workflow_handle(renewal_id).query("state")
            if state == "AwaitingErpConfirmation":
                break
            await env.sleep(DAY)
        world.erp.confirm()
        await until(handle, lambda v: v.renewals == 1, env, dt.timedelta(minutes=30))
    await save(env.client, "renewal", renewal_id)


async def cancellation_request(env: WorkflowEnvironment) -> None:
    world, life = World(), annual("sub_rec_c")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, quiet(2))
        await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                    CancellationRequest(request_id="rec", prorate=True,
                                                        effective_on=dt.date(2026, 7, 2)))
        await until(handle, lambda v: v.state == "Cancelled" and not v.busy)
    await save(env.client, "cancellation_requested", "cancellation-sub_rec_c")
    await save(env.client, "subscription_cancellation_update", handle.id)


async def parked_then_retried(env: WorkflowEnvironment) -> None:
    world, life = World(), annual("sub_rec_p", invoice=False)
    world.crm.fail_with = RejectedError("account blocked", system="crm")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        flow = env.client.get_workflow_handle("activation-sub_rec_p")
        await parked_step(flow)
        world.crm.fail_with = None
        await flow.signal("retry", RetryInput(operator="recorder", note="unblocked"))
        await until(handle, lambda v: v.state == "Active")
    await save(env.client, "activation_parked_then_retried", flow.id)


async def compensated(env: WorkflowEnvironment) -> None:
    world, life = World(), annual("sub_rec_k")
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    world.erp.fail_ids["inv:in_sub_rec_k_a1"] = RejectedError("refused", system="erp")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        flow = env.client.get_workflow_handle("amendment-am_sub_rec_k_1")
        await parked_step(flow)
        await flow.signal("skip", SkipInput(operator="recorder",
                                            reason="rebill refused; billing will reissue"))
        await until(handle, lambda v: v.state == "Active" and not v.busy)
    await save(env.client, "amendment_compensated", flow.id)


async def continued_as_new(env: WorkflowEnvironment) -> None:
    world, life = World(), annual("sub_rec_n")
    life.pay("py_sub_rec_n", "in_sub_rec_n", gross("1200.00"), dt.date(2026, 1, 5))
    async with running(env.client, queue(), world, continue_as_new_after_events=2) as config:
        first = await send(env.client, config, life.events[:2])
        await until(first, quiet(2))
        handle = await send(env.client, config, life.events[2:])
        await until(handle, quiet(3))
        described = await handle.describe()
    first_run = described.raw_description.workflow_execution_info.first_run_id
    assert first_run and first_run != described.run_id  # it did continue as new
    await save(env.client, "subscription_continued_as_new", first.id, first_run)


async def paid_before_cancel(env: WorkflowEnvironment) -> None:
    """A payment lands while the last attempt's notice goes out (PATCH_STOP_BEFORE_CANCEL)."""
    crm = GatedCrm("dun:in_sub_rec_l:retry_failed:3")
    world, life = World(crm=crm), annual("sub_rec_l")
    fail_payment(life, "in_sub_rec_l", gross("1200.00"), dt.date(2026, 2, 1))
    world.payments.fail_first["in_sub_rec_l"] = 99
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        while not crm.reached.is_set():
            await env.sleep(DAY)
        life.pay("py_sub_rec_l", "in_sub_rec_l", gross("1200.00"), dt.date(2026, 2, 8))
        await send(env.client, config, life.events[-1:])
        dunning = env.client.get_workflow_handle("dunning-in_sub_rec_l")
        for _ in range(300):  # until the entity has told the ladder
            if (await dunning.query("state"))["amount_due"]["amount"] in ("0", "0.00"):
                break
            await asyncio.sleep(0.05)
        crm.gate.set()
        await until(handle, lambda v: v.state == "Active" and not v.children)
    await save(env.client, "dunning_paid_before_cancel", "dunning-in_sub_rec_l")


async def voided_in_dunning(env: WorkflowEnvironment) -> None:
    """A void stops the ladder (PATCH_VOID_STOPS_DUNNING), after the suspension."""
    world, life = World(), annual("sub_rec_v")
    fail_payment(life, "in_sub_rec_v", gross("1200.00"), dt.date(2026, 2, 1))
    world.payments.fail_first["in_sub_rec_v"] = 99
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        dunning = env.client.get_workflow_handle("dunning-in_sub_rec_v")
        while not (await dunning.query("state"))["suspended"]:
            await env.sleep(DAY)
        void(life, "in_sub_rec_v", dt.date(2026, 2, 7))
        await send(env.client, config, life.events[-1:])
        await until(handle, lambda v: v.state == "Active" and not v.children)
    await save(env.client, "dunning_voided", "dunning-in_sub_rec_v")
    await save(env.client, "subscription_voided_in_dunning", handle.id)


async def late_paid_amendment(env: WorkflowEnvironment) -> None:
    """A late amendment reverses a later, partly paid one (PATCH_REVERSE_PAID_REBILL)."""
    world, life = World(), annual("sub_rec_lp")
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    amend(life, 2, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "3600.00")
    life.pay("py_sub_rec_lp", "in_sub_rec_lp_a2", gross("500.00"), dt.date(2026, 10, 5))
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, [*life.events[:2], *life.events[3:]])
        await until(handle, lambda v: v.events_applied == 2 and not v.busy)
        await env.sleep(dt.timedelta(seconds=601))
        await until(handle, quiet(4))
        await send(env.client, config, life.events[2:3])
        await until(handle, quiet(5))
    await save(env.client, "subscription_late_paid_amendment", handle.id)


async def late_cancellation(env: WorkflowEnvironment) -> None:
    """A cancellation effective before an applied amendment (PATCH_LATE_CANCELLATION)."""
    world, life = World(), annual("sub_rec_lc")
    amend(life, 1, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "2400.00")
    cancel(life, dt.date(2026, 9, 1))
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled" and quiet(4)(v))
    await save(env.client, "subscription_late_cancellation", handle.id)


async def upstream_amendment(env: WorkflowEnvironment) -> None:
    """A billing-system amendment (documents_upstream) sent before the invoice it changes;
    the billing system's rebill and credit memo follow (PATCH_AMENDMENT_WAITS)."""
    world, life = World(), annual("sub_rec_u", invoice=False)
    late_invoice = life.invoice("in_sub_rec_u", dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    invoice_event = life.events.pop()
    a = amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    life.events[-1] = life.events[-1].model_copy(update={"payload": SubscriptionAmended(
        amendment=a.model_copy(update={"documents_upstream": True}))})
    rebill = late_invoice.model_copy(update={
        "invoice_id": a.invoice_id, "issued_on": dt.date(2026, 7, 2), "lines": [
            ln.model_copy(update={"line_id": f"{a.invoice_id}-1", "period_start":
                                  dt.date(2026, 7, 2), "amount": Money.of("1200.00", "USD")})
            for ln in late_invoice.lines]})
    memo = CreditMemo(credit_memo_id=a.credit_memo_id, customer_id=rebill.customer_id,
                      subscription_id="sub_rec_u", invoice_id=a.invoice_id,
                      legal_entity="US01", currency="USD", issued_on=dt.date(2026, 7, 2),
                      reason="proration", lines=[CreditMemoLine(
                          line_id="c1", description="unused", amount=Money.of("600.00", "USD"),
                          tax_amount=Money.of("0.00", "USD"))])
    envelope = {k: v for k, v in invoice_event.model_dump().items()
                if k not in ("payload", "event_type", "sequence", "event_id", "keys")}
    envelope["keys"] = BusinessKeys(subscription_id="sub_rec_u")
    extra = [InvoiceIssuedEvent(**envelope, event_id="evt_u_rebill",
                                payload=InvoiceIssued(invoice=rebill)),
             CreditMemoIssuedEvent(**envelope, event_id="evt_u_memo",
                                   payload=CreditMemoIssued(credit_memo=memo))]
    unsequenced = [e.model_copy(update={"sequence": None})
                   for e in (life.events[0], life.events[-1], invoice_event)]
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, unsequenced[1:2])  # the amendment first
        await until(handle, lambda v: len(v.pending) == 1)
        # The rest in one signal, as the gateway's forwarder sends a subscription's events.
        await env.client.start_workflow(
            SubscriptionWorkflow.run, SubscriptionInput(subscription_id="sub_rec_u",
                                                        config=config),
            id=handle.id, task_queue=config.task_queue, start_signal="submit_batch",
            start_signal_args=[[unsequenced[0], unsequenced[2], *extra]])
        await until(handle, quiet(5))
    await save(env.client, "subscription_amendment_upstream", handle.id)
    await save(env.client, "amendment_upstream", "amendment-am_sub_rec_u_1")


async def withdrawn_cancellation(env: WorkflowEnvironment) -> None:
    """A scheduled cancellation withdrawn before its date (PATCH_WITHDRAWABLE)."""
    from tests.unit.test_scheduled_cancellation import START, cancelled

    world, life = World(), annual("sub_rec_w", START)
    cancelled(life, "cancel_at")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelling" and quiet(3)(v))
        cancelled(life, "cancel_withdrawn", withdrawn=True)
        await send(env.client, config, life.events[-1:])
        await until(handle, lambda v: v.state == "Active" and quiet(4)(v))
    await save(env.client, "cancellation_withdrawn", "cancellation-sub_rec_w")
    await save(env.client, "subscription_cancellation_withdrawn", handle.id)


async def final_cancellation_noted(env: WorkflowEnvironment) -> None:
    """The billing system's final cancellation of a scheduled date (PATCH_SAME_CANCELLATION)."""
    from tests.unit.test_scheduled_cancellation import START, cancelled

    world, life = World(), annual("sub_rec_f", START)
    cancelled(life, "cancel_at")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled", env, DAY * 7)
        cancelled(life, "deleted")
        await send(env.client, config, life.events[-1:])
        await until(handle, quiet(4))
    await save(env.client, "subscription_final_cancellation_noted", handle.id)


RECORDERS = {f.__name__: f for f in (
    amendment_and_dunning, recovered_dunning, renewal, cancellation_request,
    parked_then_retried, compensated, continued_as_new, paid_before_cancel,
    voided_in_dunning, late_paid_amendment, late_cancellation, upstream_amendment,
    withdrawn_cancellation, final_cancellation_noted)}


async def main(names: list[str]) -> None:
    """Record every history, or only the recorders named (e.g. `paid_before_cancel`)."""
    for name in names or list(RECORDERS):
        async with fresh_ts_env() as env:
            await RECORDERS[name](env)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
