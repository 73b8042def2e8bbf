"""Fault injection for every sandbox service: errors, latency, rate and concurrency limits."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["500", "503", "timeout", "429"]
FaultPhase = Literal["before", "after", "mixed"]
ALL_KINDS: tuple[FaultKind, ...] = ("500", "503", "timeout", "429")

# Paths that are never faulted, limited or counted: the operator must always get through.
EXEMPT_PREFIXES = ("/_admin", "/health", "/docs", "/openapi.json")


class FaultSettings(BaseModel):
    """What a sandbox service does wrong, and how fast it lets callers in.

    Attributes:
        error_rate: share of requests (0..1) answered with an injected error.
        error_kinds: the errors drawn from: "500", "503", "429", or "timeout"
            (hang `hang_ms`, then answer 504).
        error_phase: "before" fails without side effect; "after" does the work and
            commits, then answers the error (a retry must come back as duplicate);
            "mixed" draws one of the two per faulted request.
        latency_ms: added to every request.
        rps_limit: token bucket (burst = one second's worth); excess answers 429.
        max_concurrency: requests in flight beyond this answer 429.
        hang_ms: how long a "timeout" fault hangs before its 504.
        seed: makes the fault draws reproducible.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    error_kinds: list[FaultKind] = Field(default_factory=lambda: list(ALL_KINDS), min_length=1)
    error_phase: FaultPhase = "before"
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    rps_limit: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    hang_ms: int = Field(default=2_000, ge=0, le=120_000)
    seed: int | None = None

    @field_validator("error_kinds")
    @classmethod
    def _unique(cls, kinds: list[FaultKind]) -> list[FaultKind]:
        return list(dict.fromkeys(kinds))

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> FaultSettings:
        """Settings from `CASHLOOP_FAULTS_<SERVICE>` (JSON), e.g. CASHLOOP_FAULTS_ERP_LEGACY."""
        env = os.environ if environ is None else environ
        raw = env.get(env_var(service))
        return cls.model_validate(json.loads(raw)) if raw else cls()

    def merged(self, patch: Mapping[str, Any]) -> FaultSettings:
        """These settings with some fields replaced (validated)."""
        return FaultSettings.model_validate({**self.model_dump(), **patch})


def env_var(service: str) -> str:
    """The environment variable holding a service's initial fault settings."""
    return "CASHLOOP_FAULTS_" + service.upper().replace("-", "_")


class Stats:
    """Thread-safe counters: the middleware counts in the loop, handlers in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()

    def incr(self, key: str, n: int = 1) -> None:
        """Add `n` to a named counter (postings_created, duplicates, ...)."""
        with self._lock:
            self._counters[key] += n

    def record_status(self, status: int) -> None:
        """Count one answered status code."""
        with self._lock:
            self._by_status[str(status)] += 1
            if status == 429:
                self._counters["rate_limited"] += 1

    def snapshot(self) -> dict[str, Any]:
        """All counters, with every documented key present even when zero."""
        with self._lock:
            base = dict.fromkeys(("requests", "rate_limited", "faults_injected",
                                  "postings_created", "duplicates", "batch_calls",
                                  "documents_in_batches", "max_in_flight"), 0)
            return {**base, **self._counters, "by_status": dict(self._by_status)}

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counters.clear()
            self._by_status.clear()

    def peak(self, key: str, value: int) -> None:
        """Keep the maximum seen for `key`."""
        with self._lock:
            self._counters[key] = max(self._counters[key], value)


class TokenBucket:
    """`rate` tokens per second, holding at most one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token; 0.0 on success, otherwise seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FaultInjector:
    """The live fault state of one service instance (settings, bucket, in-flight count)."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.stats = Stats()
        self.in_flight = 0
        self.settings = settings or FaultSettings()

    @property
    def settings(self) -> FaultSettings:
        """The current settings; assigning them resets the bucket and the random stream."""
        return self._settings

    @settings.setter
    def settings(self, value: FaultSettings) -> None:
        self._settings = value
        self._random = random.Random(value.seed)
        self._bucket = TokenBucket(value.rps_limit) if value.rps_limit else None

    def throttle(self) -> float | None:
        """None to admit the request, else the Retry-After (seconds) of a 429."""
        limit = self._settings.max_concurrency
        if limit is not None and self.in_flight >= limit:
            return 1.0
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait > 0:
                return wait
        return None

    def draw(self) -> tuple[FaultKind, Literal["before", "after"]] | None:
        """Whether this request fails, with which error and in which phase."""
        s = self._settings
        if s.error_rate <= 0 or self._random.random() >= s.error_rate:
            return None
        kind = self._random.choice(s.error_kinds)
        if s.error_phase == "mixed":
            return kind, self._random.choice(("before", "after"))
        return kind, s.error_phase


async def _respond(send: Send, status: int, body: dict[str, Any],
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


def _retry_after(seconds: float) -> list[tuple[bytes, bytes]]:
    # HTTP wants whole seconds; round up so a client that obeys it is never early.
    return [(b"retry-after", str(max(1, math.ceil(seconds))).encode())]


class FaultMiddleware:
    """ASGI middleware applying a `FaultInjector` to every non-admin request."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        inj = self.injector
        inj.stats.incr("requests")

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                inj.stats.record_status(message["status"])
            await send(message)

        wait = inj.throttle()
        if wait is not None:
            await _respond(counted_send, 429, {"detail": "too many requests",
                                               "type": "rate_limited"}, _retry_after(wait))
            return
        inj.in_flight += 1
        inj.stats.peak("max_in_flight", inj.in_flight)
        try:
            await self._handle(scope, receive, counted_send)
        finally:
            inj.in_flight -= 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        inj = self.injector
        if inj.settings.latency_ms:
            await asyncio.sleep(inj.settings.latency_ms / 1000)
        fault = inj.draw()
        if fault is None:
            await self.app(scope, receive, send)
            return
        kind, phase = fault
        inj.stats.incr("faults_injected")
        if phase == "after":
            # Run the request to completion (it commits) and throw its answer away.
            async def discard(_message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
        await self._inject(kind, phase, send)

    async def _inject(self, kind: FaultKind, phase: str, send: Send) -> None:
        body = {"detail": f"injected {kind} ({phase})", "type": "injected_fault"}
        if kind == "429":
            await _respond(send, 429, body, _retry_after(1))
        elif kind == "timeout":
            await asyncio.sleep(self.injector.settings.hang_ms / 1000)
            await _respond(send, 504, body)
        else:
            await _respond(send, int(kind), body)
