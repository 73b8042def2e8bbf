"""How the chaos drill delivers a stream: some events twice, out of order, over two paths.

Every event goes once through the gateway (`POST /v1/events`, as upstream systems do).
A share of them is delivered a second time, half of those again through the gateway (its
inbox answers "duplicate") and half straight to Temporal by signal-with-start (what
`starter.py send` does), so both dedup layers — the gateway's inbox and the entity's
event ids — are exercised. The order is shuffled within windows of consecutive
deliveries: the entity puts a subscription's events back in `sequence` order, but waits
for a gap only `sequence_gap_wait_s` (workflow time, default 600 s) before it proceeds
past it, so a shuffle may move an event only as far as the sender covers in that time.
With the drill's pacing a window of W deliveries moves an event by less than W / rate
seconds; `max_displacement` reports how far the plan actually moved one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx
from temporalio.client import Client

from canonical.events import EnvelopeBase
from cli.send import deliver, flow_config
from devstack import stack
from gateway.client import GatewayClient
from settings import Settings

Channel = Literal["gateway", "temporal"]


@dataclass(frozen=True)
class Delivery:
    event: EnvelopeBase
    channel: Channel = "gateway"
    repeat: bool = False  # the event's second delivery


def chaos_plan(events: Sequence[EnvelopeBase], rnd: random.Random, duplicates: float = 0.3,
               window: int = 500, direct_share: float = 0.5) -> list[Delivery]:
    """Each event once via the gateway; `duplicates` of them twice; shuffled per window."""
    plan = [Delivery(e) for e in events]
    twice = set(rnd.sample(range(len(events)), round(len(events) * duplicates)))
    out: list[Delivery] = []
    for i, d in enumerate(plan):
        out.append(d)
        if i in twice:
            channel: Channel = "temporal" if rnd.random() < direct_share else "gateway"
            out.append(Delivery(d.event, channel, repeat=True))
    for start in range(0, len(out), max(1, window)):
        block = out[start:start + window]
        rnd.shuffle(block)
        out[start:start + window] = block
    return out


def max_displacement(events: Sequence[EnvelopeBase], plan: Sequence[Delivery]) -> int:
    """The furthest an event's first delivery moved from its place in the stream."""
    first: dict[str, int] = {}
    for pos, d in enumerate(plan):
        first.setdefault(d.event.event_id, pos)
    # positions in the plan count the repeats in front; compare ranks among first copies
    ranks = {eid: r for r, eid in enumerate(sorted(first, key=first.__getitem__))}
    return max((abs(ranks[e.event_id] - i) for i, e in enumerate(events)), default=0)


def out_of_order(plan: Sequence[Delivery]) -> int:
    """First deliveries that arrive after a later event of their own subscription."""
    latest: dict[str, int] = {}
    seen: set[str] = set()
    count = 0
    for d in plan:
        if d.event.event_id in seen:
            continue
        seen.add(d.event.event_id)
        sub, seq = d.event.subscription_id, d.event.sequence or 0
        if seq < latest.get(sub, 0):
            count += 1
        latest[sub] = max(latest.get(sub, 0), seq)
    return count


@dataclass
class Sender:
    """Delivers a plan to a running stack, paced; counts what each path answered."""

    settings: Settings
    client: Client
    chunk: int = 50
    accepted: int = 0
    duplicates: int = 0
    direct: int = 0
    direct_retries: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    errors: list[str] = field(default_factory=list)

    async def send(self, plan: Sequence[Delivery], rate: float | None) -> None:
        """Send in chunks; `rate` deliveries per second (None: as fast as taken)."""
        credentials, _ = stack.gateway_credentials(self.settings)
        api_key = next(iter(credentials.api_key_map().values()))
        config = flow_config(self.settings)
        self.started_at = time.time()
        async with httpx.AsyncClient(base_url=stack.gateway_url(self.settings),
                                     timeout=120) as http:
            gateway = GatewayClient(http, api_key)
            for n, start in enumerate(range(0, len(plan), self.chunk)):
                if rate:
                    due = self.started_at + start / rate
                    await asyncio.sleep(max(0.0, due - time.time()))
                part = plan[start:start + self.chunk]
                via_gateway = [d.event for d in part if d.channel == "gateway"]
                direct = [d.event for d in part if d.channel == "temporal"]
                if via_gateway:
                    results = await gateway.post_events(via_gateway)
                    fresh = sum(1 for r in results if r["accepted"])
                    self.accepted += fresh
                    self.duplicates += len(results) - fresh
                if direct:
                    await self._direct(direct, config, n)
        self.finished_at = time.time()

    async def _direct(self, events: list[EnvelopeBase], config: object, n: int) -> None:
        """Signal-with-start; while Temporal is down the sender retries, as upstream would."""
        backoff = 0.5
        while True:
            try:
                await deliver(self.client, list(events), config, concurrency=8)  # type: ignore[arg-type]
                self.direct += len(events)
                return
            except Exception as exc:  # server restarting: retry the chunk (idempotent)
                self.direct_retries += 1
                if len(self.errors) < 20:
                    self.errors.append(f"chunk {n}: {type(exc).__name__}: {exc}"[:200])
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
