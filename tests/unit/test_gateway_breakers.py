"""Circuit breaker transitions and the TTL cache, on a controlled clock."""

from __future__ import annotations

import pytest

from gateway.breakers import BreakerOpenError, BreakerState, CircuitBreaker, TtlCache
from tests.unit.fakes import Clock


def state(b: CircuitBreaker) -> BreakerState:
    """The breaker's state now (mypy would keep `b.state` narrowed from an earlier assert,
    though the breaker moves between states under the same reference)."""
    return b.state


def test_breaker_opens_after_n_consecutive_failures() -> None:
    b = CircuitBreaker("crm", failure_threshold=3, cooldown_s=10, clock=Clock())
    for _ in range(2):
        b.before_call()
        b.on_failure()
    assert state(b) == BreakerState.CLOSED
    b.before_call()
    b.on_failure()
    assert state(b) == BreakerState.OPEN
    with pytest.raises(BreakerOpenError):
        b.before_call()
    assert b.rejected_count == 1


def test_success_resets_the_consecutive_count() -> None:
    b = CircuitBreaker("crm", failure_threshold=2, cooldown_s=10, clock=Clock())
    b.on_failure()
    b.on_success()
    b.on_failure()
    assert state(b) == BreakerState.CLOSED


def test_half_open_after_cooldown_lets_one_probe_through() -> None:
    clock = Clock()
    b = CircuitBreaker("tax", failure_threshold=1, cooldown_s=10, clock=clock)
    b.on_failure()
    clock.now += 9.9
    assert state(b) == BreakerState.OPEN
    clock.now += 0.2
    assert state(b) == BreakerState.HALF_OPEN
    b.before_call()  # the probe
    with pytest.raises(BreakerOpenError):
        b.before_call()  # a second caller while the probe is in flight


def test_successful_probe_closes_the_breaker() -> None:
    clock = Clock()
    b = CircuitBreaker("tax", failure_threshold=1, cooldown_s=5, clock=clock)
    b.on_failure()
    clock.now += 5
    b.before_call()
    b.on_success()
    assert state(b) == BreakerState.CLOSED
    b.before_call()


def test_failed_probe_opens_again_for_a_new_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker("tax", failure_threshold=3, cooldown_s=5, clock=clock)
    for _ in range(3):
        b.on_failure()
    clock.now += 5
    b.before_call()
    b.on_failure()
    assert state(b) == BreakerState.OPEN
    assert b.snapshot()["next_probe_in_s"] == pytest.approx(5)
    assert b.opened_count == 2


def test_ttl_cache_expires_but_keeps_the_stale_value_for_fallbacks() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(ttl_s=60, clock=clock)
    cache.put("US-CA", "0.0725")
    assert cache.get("US-CA") == "0.0725"
    clock.now += 61
    assert cache.get("US-CA") is None
    assert cache.stale("US-CA") == "0.0725"
    assert cache.stale("DE") is None
