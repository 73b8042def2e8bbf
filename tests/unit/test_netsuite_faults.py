"""NetSuite under faults: a fifth of its requests fail (half after NetSuite applied them,
the answer lost) while the events come twice — its books end as a clean run's."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from adapters.erp.batching import ErpBatcher
from adapters.erp.netsuite import NetSuiteErpAdapter
from adapters.erp.netsuite_auth import netsuite_client
from canonical.money import Money
from tests.unit.flows_harness import World, annual, fresh_ts_env, quiet, running, send, until
from tests.unit.netsuite_api_fake import CREDENTIALS, FakeNetSuite
from tests.unit.test_netsuite_erp import NETSUITE_ROUTING, books, fake_netsuite

SUBSCRIPTIONS = 6


def stream() -> list[tuple[str, list[Any]]]:
    lives = []
    for n in range(SUBSCRIPTIONS):
        life = annual(f"sub_nf{n}")
        (inv,) = [e.payload.invoice for e in life.events if e.event_type == "invoice.issued"]
        life.pay(f"py_nf{n}", inv.invoice_id, Money.of("1320.00", "USD"), dt.date(2026, 1, 20))
        lives.append((life.subscription.subscription_id, life.events))
    return lives


def journals(netsuite: FakeNetSuite) -> dict[str, list[tuple[str, Decimal, Decimal]]]:
    return {je["externalId"]: sorted((ln["account"]["id"], ln.get("debit", Decimal(0)),
                                      ln.get("credit", Decimal(0)))
                                     for ln in je["line"]["items"])
            for je in netsuite.records["journalEntry"].values()}


async def run(netsuite: FakeNetSuite, duplicate: bool) -> None:
    draw = random.Random(11)
    async with fresh_ts_env() as env, netsuite_client(
            CREDENTIALS, transport=netsuite.transport()) as client:
        erp = ErpBatcher(NetSuiteErpAdapter("netsuite", client, books()), max_batch=10,
                         max_concurrency=5)
        world = World(erps={"netsuite": erp}, routing=NETSUITE_ROUTING)
        async with running(env.client, "tq-ns-faults", world, activity_max_attempts=12,
                           activity_initial_interval_s=0.05,
                           activity_max_interval_s=0.5) as config:
            handles = []
            for _, events in stream():
                again = [e for e in events if draw.random() < 0.3] if duplicate else []
                handles.append(await send(env.client, config, [*events, *again]))
            for handle in handles:
                view = await until(handle, quiet(3))
                assert not view.parked, view.parked


async def test_faults_and_repeats_leave_netsuites_books_as_a_clean_runs() -> None:
    clean, faulty = fake_netsuite(), fake_netsuite()
    faulty.chaos, faulty.chaos_rate = random.Random(7), 0.2
    await run(clean, duplicate=False)
    await run(faulty, duplicate=True)
    assert faulty.injected["before"] > 5 and faulty.injected["after"] > 5
    assert journals(faulty) == journals(clean)  # nothing lost, nothing twice, same lines
    assert len(journals(clean)) == 2 * SUBSCRIPTIONS
    for kind in ("customer", "customrecord_cashloop_contract"):
        assert len(faulty.records[kind]) == len(clean.records[kind]) == SUBSCRIPTIONS
