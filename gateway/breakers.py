"""Circuit breakers per downstream system, and the TTL cache of reference data.

closed --(N consecutive failures)--> open --(cool-down elapsed)--> half_open
half_open --(probe succeeds)--> closed;  half_open --(probe fails)--> open (cool-down again)

Only transient failures count (timeout, connection error, 5xx, 429): a business answer
such as "unknown legal entity" is the system working. While open, calls fail fast
(no request is sent) and the caller answers with its documented fallback. In half-open
exactly one call at a time is let through as the probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from enum import StrEnum
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(Exception):
    """The breaker refused the call without trying it."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit breaker {name} is open; next probe in {retry_in_s:.1f}s")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.opened_count = 0
        self.rejected_count = 0

    @property
    def state(self) -> BreakerState:
        if self._state == BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._state = BreakerState.HALF_OPEN
            self._probing = False
        return self._state

    def before_call(self) -> None:
        """Admit a call, or raise BreakerOpenError (open, or a probe already in flight)."""
        state = self.state
        if state == BreakerState.CLOSED:
            return
        if state == BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        self.rejected_count += 1
        remaining = max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
        raise BreakerOpenError(self.name, remaining)

    def on_success(self) -> None:
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._probing = False

    def on_failure(self) -> None:
        self.consecutive_failures += 1
        if self._state == BreakerState.HALF_OPEN or (
                self.consecutive_failures >= self.failure_threshold
                and self._state == BreakerState.CLOSED):
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self.opened_count += 1
        self._probing = False

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        retry = (max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
                 if state == BreakerState.OPEN else None)
        return {"state": str(state), "consecutive_failures": self.consecutive_failures,
                "failure_threshold": self.failure_threshold, "cooldown_s": self.cooldown_s,
                "next_probe_in_s": retry, "opened_count": self.opened_count,
                "rejected_calls": self.rejected_count}


class TtlCache(Generic[V]):
    """Reference data with a time to live; stale entries stay readable for fallbacks."""

    def __init__(self, ttl_s: float, max_items: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._max = max_items
        self._clock = clock
        self._items: dict[Hashable, tuple[float, V]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """A fresh value, or None (expired or never stored)."""
        found = self._items.get(key)
        if found is None or self._clock() - found[0] > self.ttl_s:
            self.misses += 1
            return None
        self.hits += 1
        return found[1]

    def stale(self, key: Hashable) -> V | None:
        """The last value stored, however old (for the documented fallback)."""
        found = self._items.get(key)
        return None if found is None else found[1]

    def put(self, key: Hashable, value: V) -> None:
        if len(self._items) >= self._max and key not in self._items:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (self._clock(), value)
