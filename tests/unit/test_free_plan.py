"""A free plan: documents of nothing post nothing, and the subscription lives on (patch
zero-documents-book-nothing; before, their journal of no lines failed to build and the
document parked)."""

from __future__ import annotations

import datetime as dt

from temporalio.testing import WorkflowEnvironment

from canonical.money import Money
from tests.histories.recording import DAY
from tests.unit.flows_harness import World, amend, annual, fresh_ts_env, quiet, running, send, until
from workflows.subscription import SubscriptionWorkflow


async def test_a_free_invoice_and_a_credit_of_nothing_post_nothing(task_queue: str) -> None:
    world, life = World(), annual("sub_free", price="0.00")
    life.credit("cm_free", "in_sub_free", Money.zero("USD"), dt.date(2026, 1, 5))
    async with fresh_ts_env() as env, running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, quiet(3))
        audit = await handle.query(SubscriptionWorkflow.audit_trail)
    assert not view.parked and not view.findings
    (invoice,) = view.invoices
    assert (invoice.invoice_id, invoice.total, invoice.status) == (
        "in_sub_free", Money.zero("USD"), "paid")
    assert sorted(world.erp.kinds()) == ["contract", "customer"]
    assert world.tax.calls == []  # nothing to tax
    notes = [a.note for a in audit]
    assert "invoice in_sub_free of 0.00 USD: nothing to book, nothing due" in notes
    assert any(n.startswith("credit_memo.issued") and n.endswith("nothing to book")
               for n in notes)


async def test_an_upgrade_from_a_free_plan_bills_the_new_plan_only(task_queue: str) -> None:
    world, life = World(), annual("sub_up", price="0.00")
    amend(life, 1, dt.datetime(2026, 7, 2, tzinfo=dt.UTC), "1200.00")
    async with fresh_ts_env() as env, running(env.client, task_queue, world) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, quiet(3))
    assert not view.parked and not view.children
    assert "credit_memo" not in world.erp.kinds()  # the free service credits nothing
    rebill = next(i for i in view.invoices if i.invoice_id == "in_sub_up_a1")
    assert Money.zero("USD") < rebill.total < Money.of("1320.00", "USD")  # half a year


async def test_a_free_plan_renews_without_an_invoice_to_post_or_await(
        task_queue: str) -> None:
    async with fresh_ts_env() as env:
        await _renews(env, task_queue)


async def _renews(env: WorkflowEnvironment, task_queue: str) -> None:
    start = (await env.get_current_time()).date().replace(day=1)
    world, life = World(), annual("sub_fren", start, price="0.00")
    world.erp.pending_kinds.add("invoice")  # a posted invoice would wait for confirmation
    async with running(env.client, task_queue, world, renewals_enabled=True) as config:
        handle = await send(env.client, config, life.events)
        view = await until(handle, lambda v: v.renewals == 1, env, 2 * DAY)
    assert (view.term_start, view.term_end) == (life.subscription.term_end,
                                                life.subscription.term_end.replace(
                                                    year=life.subscription.term_end.year + 1))
    assert [k for k in world.erp.kinds() if k == "invoice"] == []
    assert sorted(i.invoice_id for i in view.invoices) == ["in_sub_fren", "sub_fren-r1"]
