"""The running gateway: store, inbox, mappers, forwarder, validation service, metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from adapters.crm.sandbox import SandboxCrmAdapter
from adapters.tax.sandbox import SandboxTaxAdapter
from adapters.transport import async_client

from . import postvalidation
from .auth import ApiKeys
from .breakers import BreakerState, CircuitBreaker
from .config import GatewayConfig
from .engine_backlog import EngineBacklog
from .forwarder import Forwarder, backlog
from .inbox import Inbox, StoreRoutes
from .metrics import Labels, Metrics
from .sources.base import Mapper, Route
from .sources.canonical import CanonicalMapper
from .sources.settlements import SettlementMapper
from .sources.stripe import StripeMapper
from .store import now_utc, open_store
from .validation import ValidationService

_BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class NoRoutes:
    def route_of(self, object_id: str) -> Route | None:
        return None


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.engine = open_store(config.store_url, config.store_schema)
        self.inbox = Inbox(self.engine)
        self.keys = ApiKeys(config.api_keys)
        self.canonical = CanonicalMapper()
        self.stripe = StripeMapper(config.customers)
        self.settlements = SettlementMapper(config.entities)
        self.mappers: dict[str, Mapper] = {"events": self.canonical, "stripe": self.stripe,
                                           "settlements": self.settlements}
        self._routes = {"stripe": StoreRoutes(self.engine, "stripe")}
        self.metrics = Metrics()
        self.forwarder = Forwarder(
            self.engine, config.connect, config.flow,
            engine_backlog=EngineBacklog(config.flow.task_queue, config.max_engine_backlog))
        if config.validation_ports is not None:
            ports = config.validation_ports()
            crm, tax, self._http = ports.crm, ports.tax, ports.clients
        else:
            self._http = [async_client(url, timeout=config.validation_timeout_s)
                          for url in (config.crm_url, config.tax_url)]
            crm, tax = SandboxCrmAdapter(self._http[0]), SandboxTaxAdapter(self._http[1])
        self.breakers = {name: CircuitBreaker(name, config.breaker_failures,
                                              config.breaker_cooldown_s)
                         for name in ("crm", "tax")}
        self.validation = ValidationService(
            crm, tax,
            config.entities, crm_breaker=self.breakers["crm"],
            tax_breaker=self.breakers["tax"], timeout_s=config.validation_timeout_s,
            cache_ttl_s=config.cache_ttl_s,
            queue_post_validation=lambda kind, req, ans: postvalidation.queue(
                self.engine, kind, req, ans))
        self._tasks: list[asyncio.Task[None]] = []

    def routes_for(self, channel: str) -> StoreRoutes | NoRoutes:
        return self._routes.get(channel) or NoRoutes()

    async def start(self) -> None:
        self.inbox.start()
        if self.config.forward:
            self._tasks.append(asyncio.create_task(self.forwarder.run(), name="forwarder"))
        self._tasks.append(asyncio.create_task(postvalidation.run_forever(
            self.engine, self.validation, self.config.post_validation_every_s),
            name="post-validation"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.inbox.stop()
        for client in self._http:
            await client.aclose()
        self.engine.dispose()

    # --- operations ----------------------------------------------------------------------

    def database_ok(self) -> tuple[bool, str]:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True, self.engine.dialect.name
        except Exception as exc:
            return False, f"{type(exc).__name__}: {str(exc)[:200]}"

    async def temporal_ok(self) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(3):
                client = await self.forwarder.client()
            async with asyncio.timeout(3):
                await client.service_client.check_health()
            return True, client.service_client.config.target_host
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.forwarder.reset_client()
            return False, f"{type(exc).__name__}: {str(exc)[:200]}"

    def backlog_json(self) -> dict[str, Any]:
        b = backlog(self.engine)
        age = ((now_utc() - b.oldest_pending_at).total_seconds()
               if b.oldest_pending_at else 0.0)
        gate = self.forwarder.engine_backlog
        return {"pending": b.pending, "subscriptions": b.subscriptions,
                "oldest_pending_age_s": round(max(age, 0.0), 3), "forwarded": b.forwarded,
                "forwarder_last_error": self.forwarder.last_error,
                "engine_backlog": (gate.last_reading.backlog
                                   if gate and gate.last_reading else None),
                "engine_backlog_limit": gate.limit if gate else 0}

    def gauges(self) -> Iterable[tuple[str, Labels, float]]:
        b = self.backlog_json()
        yield "cashloop_gateway_backlog_events", (), float(b["pending"])
        yield "cashloop_gateway_backlog_oldest_age_seconds", (), float(b["oldest_pending_age_s"])
        yield "cashloop_gateway_forwarded_total", (), float(self.forwarder.forwarded_total)
        if b["engine_backlog"] is not None:
            yield "cashloop_gateway_engine_backlog_tasks", (), float(b["engine_backlog"])
        for name, breaker in self.breakers.items():
            yield ("cashloop_gateway_breaker_state", (("downstream", name),),
                   float(_BREAKER_LEVEL[breaker.state]))
        for status, n in postvalidation.counts(self.engine).items():
            yield "cashloop_gateway_post_validations", (("status", status),), float(n)
