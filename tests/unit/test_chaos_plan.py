"""The chaos drill's delivery plan (bench/delivery.py) and fault schedule (bench/mayhem.py)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from bench.delivery import chaos_plan, max_displacement, out_of_order
from bench.mayhem import schedule
from bench.mixed import Mix, subscription

TODAY = dt.date(2026, 11, 26)


def stream(subscriptions: int) -> list:
    rnd = random.Random(3)
    return [e for i in range(subscriptions)
            for e in subscription(i, rnd, Mix(), TODAY).events]


def test_every_event_comes_once_and_a_share_of_them_twice_over_both_paths() -> None:
    events = stream(60)
    plan = chaos_plan(events, random.Random(1), duplicates=0.3, window=40)
    counts = Counter(d.event.event_id for d in plan)
    assert set(counts) == {e.event_id for e in events}
    assert sorted(Counter(counts.values()).items()) == [(1, len(events) - round(len(events) * 0.3)),
                                                        (2, round(len(events) * 0.3))]
    repeats = [d for d in plan if d.repeat]
    assert {d.channel for d in repeats} == {"gateway", "temporal"}
    assert all(d.channel == "gateway" for d in plan if not d.repeat)


def test_the_shuffle_stays_within_its_window_and_does_reorder() -> None:
    events = stream(60)
    plan = chaos_plan(events, random.Random(2), duplicates=0.3, window=40)
    assert 0 < max_displacement(events, plan) < 40
    assert out_of_order(plan) > 0
    assert out_of_order(chaos_plan(events, random.Random(2), duplicates=0.0, window=1)) == 0


def test_the_same_seed_gives_the_same_plan() -> None:
    events = stream(20)
    a = chaos_plan(events, random.Random(5))
    b = chaos_plan(events, random.Random(5))
    assert [(d.event.event_id, d.channel) for d in a] == [(d.event.event_id, d.channel)
                                                          for d in b]


def test_faults_fall_in_their_span_in_order() -> None:
    faults = schedule(random.Random(4), kills=5, restarts=1, span=(0.2, 0.6))
    assert Counter(f.kind for f in faults) == {"kill-worker": 5, "restart-server": 1}
    points = [f.at_progress for f in faults]
    assert points == sorted(points) and all(0.2 <= p <= 0.6 for p in points)
