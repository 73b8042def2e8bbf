"""Figures the benchmarks print and keep: latencies, per-event CPU, result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from statistics import median, quantiles
from typing import Any

from adapters.erp.sandbox import ErpDocument
from devstack.streams import Lifecycle

RESULTS = Path(__file__).with_name("results")


def document_of(event: Any) -> str | None:
    """The ERP external id that shows an event was applied, if it has one of its own."""
    kind = event.event_type
    if kind == "subscription.activated":
        sub = event.payload.subscription
        return f"ctr:{sub.subscription_id}:{sub.term_start.isoformat()}"
    if kind == "invoice.issued":
        return f"inv:{event.payload.invoice.invoice_id}"
    if kind == "payment.succeeded":
        return f"pay:{event.payload.payment.payment_id}"
    if kind == "subscription.amended":
        return f"inv:{event.payload.amendment.invoice_id}"
    return None


def latencies(lives: list[Lifecycle], accepted: dict[str, float],
              docs: dict[str, ErpDocument]) -> dict[str, float]:
    """p50/p99 of (posted in the ERP - accepted by the gateway), in ms."""
    samples = []
    for life in lives:
        for event in life.events:
            doc = docs.get(document_of(event) or "")
            if doc is not None and doc.created_at and event.event_id in accepted:
                samples.append((doc.created_at.timestamp() - accepted[event.event_id]) * 1000)
    if len(samples) < 2:
        return {"samples": len(samples)}
    cuts = quantiles(samples, n=100)
    return {"samples": len(samples), "p50": round(median(samples)),
            "p99": round(cuts[98])}


def per_event(cpu: dict[str, float], events: int) -> dict[str, float | str]:
    return {name: round(seconds * 1000 / events, 2) for name, seconds in cpu.items()} | {
        "unit": "ms"}


def emit(name: str, result: dict[str, Any], as_json: bool) -> Path:
    """Print the figures (and one JSON line with --json); keep them under bench/results."""
    now = dt.datetime.now(dt.UTC)
    result = {"benchmark": name, "at": now.isoformat(timespec="seconds"),
              "machine": {"cpus": _cpus(), "python": platform.python_version()}, **result}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{now.date().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if as_json:
        print(json.dumps(result))
    return path


def _cpus() -> int:
    return os.cpu_count() or 0
