"""Property: duplicates and reordering in delivery change no ERP document and no balance.

For generated event streams of several subscriptions (activations, invoices,
payments, amendments, failed payments with dunning outcomes), one world gets the clean
stream once, in order; another gets the same events shuffled with random duplicates.
Both run the real workflows (time-skipping server, in-memory ports); after the dunning
ladders have run, both ERPs hold exactly the same documents and the same balances.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import streams
from tests.unit.flows_harness import (
    World,
    amend,
    annual,
    fail_payment,
    fresh_ts_env,
    gross,
    running,
    send,
    until,
)
from workflows.subscription_state import SubscriptionView


@dataclass(frozen=True)
class Plan:
    price: str
    amend_on_day: int | None  # days into the term, or no amendment
    amend_price: str
    paid: bool
    failed: bool
    declines: int  # collection attempts the gateway declines before it collects


plans = st.builds(
    Plan,
    price=st.sampled_from(["1200.00", "999.00", "3650.00"]),
    amend_on_day=st.one_of(st.none(), st.integers(1, 360)),
    amend_price=st.sampled_from(["2400.00", "600.00"]),
    paid=st.booleans(),
    failed=st.booleans(),
    declines=st.sampled_from([0, 1, 99]),
)


def lifecycle(n: int, plan: Plan) -> tuple[streams.Lifecycle, int]:
    sub_id = f"sub_p{n}"
    life = annual(sub_id, price=plan.price)
    if plan.amend_on_day is not None:
        at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=plan.amend_on_day)
        amend(life, 1, at, plan.amend_price)
    if plan.failed:
        fail_payment(life, f"in_{sub_id}", gross(plan.price), dt.date(2026, 2, 1))
    if plan.paid:
        life.pay(f"py_{sub_id}", f"in_{sub_id}", gross(plan.price), dt.date(2026, 2, 3))
    return life, plan.declines


def settled(expected: dict[str, int]) -> Any:
    def done(view: SubscriptionView) -> bool:
        return (view.events_applied >= expected[view.subscription_id] and not view.pending
                and not view.busy and not view.children and not view.parked)
    return done


async def run_world(events: list[Any], declines: dict[str, int],
                    expected: dict[str, int]) -> World:
    world = World()
    world.payments.fail_first.update(declines)
    async with fresh_ts_env() as env, running(env.client, f"tq-{uuid.uuid4().hex[:8]}",
                                              world) as config:
        handles = {}
        for event in events:
            handles[event.subscription_id] = await send(env.client, config, [event])
        for handle in handles.values():  # every event applied, dunning may wait
            await until(handle, lambda v: (v.events_applied >= expected[v.subscription_id]
                                           and not v.pending and not v.busy))
        for handle in handles.values():  # skip through the dunning ladders
            await until(handle, settled(expected), env, dt.timedelta(days=1))
    return world


def ledger(world: World) -> tuple[dict[str, Any], dict[str, Decimal], dict[str, str]]:
    documents = {k: p.model_dump(mode="json") for k, p in world.erp.documents.items()}
    return documents, world.erp.balances(), dict(world.erp.reversals)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans=st.lists(plans, min_size=2, max_size=3), seed=st.integers(0, 2**32 - 1))
async def test_duplicates_and_reordering_end_in_the_same_documents_and_balances(
        plans: list[Plan], seed: int) -> None:
    lives = [lifecycle(n, p) for n, p in enumerate(plans)]
    clean = [e for life, _ in lives for e in life.events]
    declines = {f"in_{life.subscription_id}": d for life, d in lives}
    expected = {life.subscription_id: len(life.events) for life, _ in lives}
    rng = random.Random(seed)
    messy = clean + [e for e in clean if rng.random() < 0.4]  # duplicates
    rng.shuffle(messy)  # reordering, across and within subscriptions

    once = ledger(await run_world(clean, declines, expected))
    shuffled = ledger(await run_world(messy, declines, expected))
    assert shuffled == once
    assert once[1]  # something was posted
