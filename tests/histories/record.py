"""Re-record the replay histories under tests/histories/ (run deliberately, then commit).

    .venv/bin/python -m tests.histories.record [recorder ...]

Runs every flow on the time-skipping server with the in-memory ports and writes each
workflow's history as JSON, as `<name>_v<CODE_VERSION>.json` (recording.py): executions
started by this code, which carry their code version instead of patch markers. Files of
earlier code versions, and those without a suffix (recorded before code versions), are
kept and never re-recorded. tests/replay replays them all against the current code, so
a change that breaks replay of a recorded execution fails the suite; a change meant to
alter a shipped path's commands is guarded by `versions.patched` and bumps CODE_VERSION.
`*_before_*.json` were recorded with the code before issue 3 (commit d1debaf) and are
never re-recorded: they prove that old histories still replay (see PATCH_FLOWS).
`subscription_report_race_before_fix.json` comes from a chaos drill run (bench/chaos.py)
before PATCH_CHILD_REPORTED, payloads decrypted; it is never re-recorded either.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from canonical.errors import RejectedError
from tests.histories import record_edges as edges
from tests.histories.recording import DAY, first_run, queue, save
from tests.unit.flows_harness import (
    World,
    amend,
    annual,
    fail_payment,
    fresh_ts_env,
    gross,
    monthly,
    parked_step,
    quiet,
    running,
    send,
    until,
    until_new_run,
)
from workflows.flow import RetryInput, SkipInput
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_state import CancellationRequest


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
            try:  # the entity starts the renewal when its window opens
                state = await env.client.get_workflow_handle(renewal_id).query("state")
            except RPCError:
                state = None
            if state == "AwaitingErpConfirmation":
                break
            await env.sleep(DAY)
        world.erp.confirm()
        await until(handle, lambda v: v.renewals == 1, env, dt.timedelta(minutes=30))
    await save(env.client, "renewal", renewal_id)
    # the entity: a deferred renewal's timer, its start at the window, its outcome
    await save(env.client, "subscription_renewal_deferred", handle.id)


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


async def taken_over(env: WorkflowEnvironment) -> None:
    """The entity's own activation attempt runs out of retries (CRM down for both of
    them); ActivationFlow runs the steps again and succeeds."""
    world, life = World(), annual("sub_rec_t", invoice=False)
    world.crm.unavailable_first = 2  # the harness's activity_max_attempts
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Active")
    await save(env.client, "activation", "activation-sub_rec_t")
    # the run that took the activation over (it then continued as new: nothing else came)
    await save(env.client, "subscription_activation_taken_over", handle.id,
               await first_run(env.client, handle.id))


async def fresh_after_activation(env: WorkflowEnvironment) -> None:
    """An activation alone: the run applies it, goes idle and continues as new; the next
    event (an invoice) lands in the fresh run."""
    world, life = World(), monthly("sub_rec_f", 1)
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events[:1])
        first = handle.result_run_id
        assert first
        await until_new_run(handle, first)
        await send(env.client, config, life.events[1:])
        await until(handle, quiet(2))
    await save(env.client, "subscription_fresh_after_activation", handle.id, first)
    await save(env.client, "subscription_after_fresh_run", handle.id)


async def amendment_taken_over(env: WorkflowEnvironment) -> None:
    """The entity's own amendment attempt runs out of retries (the tax engine down for
    both of its quotes of the rebill); AmendmentFlow runs it again and succeeds."""
    world, life = World(), annual("sub_rec_o")
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "2400.00")
    world.tax.unavailable["in_sub_rec_o_a1"] = 2  # the harness's activity_max_attempts
    async with running(env.client, queue(), world) as config:
        handle = await send(env.client, config, life.events)
        await until(handle, lambda v: v.state == "Active" and not v.busy
                    and len(v.invoices) == 2)
    await save(env.client, "amendment", "amendment-am_sub_rec_o_1")
    await save(env.client, "subscription_amendment_taken_over", handle.id)


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


async def idled_out(env: WorkflowEnvironment) -> None:
    """A run long enough to idle out (subscription.IDLE_MIN_HISTORY): monthly invoices
    applied one at a time, then an idle spell; the last invoice lands in the next run."""
    # events applied one at a time: enough history with ERP calls as local ones (the
    # activation, alone, has a run of its own: PATCH_FRESH_AFTER_ACTIVATION)
    busy = 16
    world, life = World(), monthly("sub_rec_i", busy)
    async with running(env.client, queue(), world, idle_continue_as_new_s=600) as config:
        for n in range(busy):
            handle = await send(env.client, config, life.events[n:n + 1])
            if n == 0:  # the activation, alone, continues as new: no query meanwhile
                assert handle.result_run_id
                await until_new_run(handle, handle.result_run_id)
            await until(handle, quiet(n + 1))
        busy_run = (await handle.describe()).run_id
        await env.sleep(dt.timedelta(seconds=601))
        await send(env.client, config, life.events[busy:])  # lands in the run after the idle one
        await until(handle, quiet(busy + 1))
        described = await handle.describe()
    assert busy_run != described.run_id  # it did continue as new while idle
    await save(env.client, "subscription_idled_out", handle.id, busy_run)


RECORDERS = {f.__name__: f for f in (
    amendment_and_dunning, recovered_dunning, renewal, cancellation_request,
    parked_then_retried, taken_over, fresh_after_activation, amendment_taken_over, compensated,
    continued_as_new, idled_out,
    edges.paid_before_cancel,
    edges.voided_in_dunning, edges.late_paid_amendment, edges.late_cancellation,
    edges.upstream_amendment, edges.withdrawn_cancellation, edges.final_cancellation_noted,
    edges.upstream_documents_first, edges.credited_in_dunning, edges.amended_in_dunning,
    edges.cancelled_in_dunning, edges.late_cancellation_in_dunning,
    edges.upstream_reordered, edges.dunning_closes_upstream, edges.free_plan)}


async def main(names: list[str]) -> None:
    """Record every history, or only the recorders named (e.g. `paid_before_cancel`)."""
    for name in names or list(RECORDERS):
        async with fresh_ts_env() as env:
            await RECORDERS[name](env)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
