"""How bench/scale.py turns its runs into the growth figure it reports."""

from __future__ import annotations

from typing import Any

from bench.scale import growth


def run(size: int, server_ms: float, worker_ms: float) -> dict[str, Any]:
    return {"subscriptions": size,
            "cpu_ms_per_event": {"temporal": server_ms, "worker": worker_ms, "unit": "ms"}}


def test_growth_is_largest_over_smallest_whatever_the_order() -> None:
    assert growth([run(10_000, 15, 15), run(1000, 10, 10)]) == 1.5


def test_a_repeated_size_counts_as_its_mean() -> None:
    # 1,000 before (20 ms) and after (24 ms) the 10,000 run: the drift between cancels
    runs = [run(1000, 10, 10), run(10_000, 14, 19), run(1000, 12, 12)]
    assert growth(runs) == 1.5
