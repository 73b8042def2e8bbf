"""How bench/scale.py draws its probe and turns its runs into the growth figure."""

from __future__ import annotations

from typing import Any

from bench.scale import WARMUP, growth, probe_batches


def run(size: int, server_ms: float, worker_ms: float) -> dict[str, Any]:
    return {"subscriptions": size,
            "cpu_ms_per_event": {"temporal": server_ms, "worker": worker_ms, "unit": "ms"}}


def test_growth_is_largest_over_smallest_whatever_the_order() -> None:
    assert growth([run(10_000, 15, 15), run(1000, 10, 10)]) == 1.5


def test_a_size_given_twice_counts_as_its_mean() -> None:
    runs = [run(1000, 10, 10), run(10_000, 14, 19), run(1000, 12, 12)]
    assert growth(runs) == 1.5


def subscription_of(event: Any) -> str:
    return event.payload.invoice.subscription_id


def test_the_probe_is_split_into_rounds_of_distinct_subscriptions() -> None:
    activations, warmup, rounds = probe_batches(200, 60, 4, seed=3)
    assert len(activations) == 200
    assert [len(r) for r in rounds] == [15] * 4
    assert len(warmup) == WARMUP
    probed = [subscription_of(e) for e in warmup + [e for r in rounds for e in r]]
    assert len(set(probed)) == len(probed)  # no subscription twice, warm-up included
    assert {e.event_type for r in rounds for e in r} == {"invoice.issued"}


def test_the_same_seed_draws_the_same_probe() -> None:
    first = probe_batches(300, 40, 2, seed=5)[2]
    again = probe_batches(300, 40, 2, seed=5)[2]
    assert ([[e.event_id for e in r] for r in first]
            == [[e.event_id for e in r] for r in again])


def test_a_small_population_repeats_subscriptions_across_batches_but_not_within() -> None:
    _, warmup, rounds = probe_batches(100, 150, 2, seed=3)
    assert [len(r) for r in rounds] == [75, 75]
    for batch in [warmup, *rounds]:
        subs = [subscription_of(e) for e in batch]
        assert len(set(subs)) == len(subs)
    seen = {subscription_of(e) for r in rounds for e in r}
    assert len(seen) < 150  # 150 probe events over 100 subscriptions
    ids = [e.payload.invoice.invoice_id for b in [warmup, *rounds] for e in b]
    assert len(set(ids)) == len(ids)
