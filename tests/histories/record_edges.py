"""Recorders of the edge-case histories; run them through tests/histories/record.py.

Dunning stopped by a late payment or a void, late events reordered, amendments billed
upstream, and scheduled cancellations (withdrawn, or confirmed by the billing system).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio.testing import WorkflowEnvironment

from canonical.money import Money
from tests.histories.recording import DAY, queue, save
from tests.unit.flows_harness import (
    GatedCrm,
    World,
    amend,
    annual,
    cancel,
    fail_payment,
    gross,
    quiet,
    running,
    send,
    unpaid,
    until,
    void,
)
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_state import SubscriptionInput


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
    from tests.unit.test_upstream_first import billed_upstream

    world, life = World(), annual("sub_rec_u", invoice=False)
    life.invoice("in_sub_rec_u", dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    invoice_event = life.events.pop()
    extra = billed_upstream(life, invoice_event)
    unsequenced = [e.model_copy(update={"sequence": None})
                   for e in (life.events[0], life.events[-1], invoice_event)]
    # The entity's attempts at ending the schedule (3 local, 2 on the ERP queue) fail:
    # AmendmentFlow takes the amendment over (code version 4 runs it in the entity).
    world.erp.unavailable["sche:in_sub_rec_u:in_sub_rec_u-1:am_sub_rec_u_1"] = 5
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


async def upstream_documents_first(env: WorkflowEnvironment) -> None:
    """A billing-system amendment applied after its own rebill and credit memo: it credits
    the old service only, and moves its release from revenue (PATCH_UPSTREAM_FIRST)."""
    from tests.unit.test_upstream_first import upstream

    world = World()
    first, amendment, documents = upstream("sub_rec_uf")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, first)
        await until(handle, quiet(2))
        for n, event in enumerate([*documents, amendment], 3):
            await send(env.client, config, [event])
            await until(handle, quiet(n))
    await save(env.client, "subscription_upstream_documents_first", handle.id)


async def credited_in_dunning(env: WorkflowEnvironment) -> None:
    """A service credit of a dunned invoice tells the ladder, which then collects and writes
    off only what is left (PATCH_DOCUMENTS_TELL_DUNNING)."""
    world, life = unpaid("sub_rec_c")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        life.credit("cn_sub_rec_c", "in_sub_rec_c", Money.of("100.00", "USD"),
                    dt.date(2026, 2, 2))
        await send(env.client, config, life.events[-1:])
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
    await save(env.client, "dunning_credited", "dunning-in_sub_rec_c")
    await save(env.client, "subscription_credited_in_dunning", handle.id)


async def amended_in_dunning(env: WorkflowEnvironment) -> None:
    """An upgrade's credit of a dunned invoice tells the ladder what is left
    (PATCH_DOCUMENTS_TELL_DUNNING)."""
    world, life = unpaid("sub_rec_ad")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        amend(life, 1, dt.datetime(2026, 2, 2, tzinfo=dt.UTC), "2400.00")
        await send(env.client, config, life.events[-1:])
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
    await save(env.client, "subscription_amended_in_dunning", handle.id)


async def cancelled_in_dunning(env: WorkflowEnvironment) -> None:
    """A cancellation requested while a ladder runs: the ladder learns the credit and does
    not cancel again at its end (PATCH_DOCUMENTS_TELL_DUNNING)."""
    from workflows.subscription_state import CancellationRequest

    world, life = unpaid("sub_rec_cd")
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: bool(v.children))
        await handle.execute_update(SubscriptionWorkflow.request_cancellation,
                                    CancellationRequest(request_id="r1", when="immediately",
                                                        prorate=True))
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
    await save(env.client, "subscription_cancelled_in_dunning", handle.id)
    await save(env.client, "dunning_after_cancellation", "dunning-in_sub_rec_cd")


async def late_cancellation_in_dunning(env: WorkflowEnvironment) -> None:
    """A late cancellation reverses an upgrade while ladders run: the dunned invoice's
    ladder learns the re-opened credit, the reversed rebill's stops
    (PATCH_LATE_CANCELLATION_TELLS_DUNNING)."""
    from tests.unit.test_dunning_edges import cancelled_after_amendment

    world, life = unpaid("sub_rec_lcd")
    async with running(env.client, queue(), world) as config:
        handle = await cancelled_after_amendment(env, config, world, life)
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
    await save(env.client, "subscription_late_cancellation_in_dunning", handle.id)


async def upstream_reordered(env: WorkflowEnvironment) -> None:
    """An upstream-billed amendment whose memo posted with its release, reordered behind
    a late amendment: generation 2 moves the release's difference
    (PATCH_MEMO_RELEASE_ADJUSTED)."""
    from tests.unit.test_upstream_first import reordered, send_one_by_one

    async with running(env.client, queue(), World()) as config:
        handle, _ = await send_one_by_one(env, config, reordered("sub_rec_ur", "1800.00"))
    await save(env.client, "subscription_upstream_reordered", handle.id)


async def dunning_closes_upstream(env: WorkflowEnvironment) -> None:
    """A ladder that writes off tells the billing system (FlowConfig
    close_written_off_upstream): its close_upstream step."""
    from tests.unit.fakes import FakeBilling

    world, life = World(billing=FakeBilling()), annual("sub_rec_cu")
    fail_payment(life, "in_sub_rec_cu", gross("1200.00"), dt.date(2026, 2, 1))
    world.payments.fail_first["in_sub_rec_cu"] = 99
    async with running(env.client, queue(), world, close_written_off_upstream=True) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Cancelled" and not v.children, env, DAY)
    assert set(world.billing.closed) == {("in_sub_rec_cu", "sub_rec_cu")}
    await save(env.client, "dunning_closed_upstream", "dunning-in_sub_rec_cu")


async def free_plan(env: WorkflowEnvironment) -> None:
    """A free plan (patch zero-documents-book-nothing): its invoice and a credit of 0 post
    nothing, and its renewal renews the contract without an invoice to post or await."""
    start = (await env.get_current_time()).date().replace(day=1)
    world, life = World(), annual("sub_rec_free", start, price="0.00")
    life.credit("cm_sub_rec_free", "in_sub_rec_free", Money.zero("USD"), start)
    async with running(env.client, queue(), world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.renewals == 1, env, 2 * DAY)
    assert not [k for k in world.erp.kinds() if k in ("invoice", "credit_memo")]
    await save(env.client, "subscription_free_plan", handle.id)
    await save(env.client, "renewal_free_plan",
               f"renewal-sub_rec_free-{life.subscription.term_end.isoformat()}")
