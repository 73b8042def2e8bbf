"""Counters and gauges in the Prometheus text format (`GET /metrics`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

HELP = {
    "cashloop_gateway_requests_total": "requests answered, by route and status",
    "cashloop_gateway_events_accepted_total": "source events accepted into the inbox",
    "cashloop_gateway_duplicates_total": "redeliveries answered as duplicates",
    "cashloop_gateway_dead_letters_total": "messages dead-lettered, by category",
    "cashloop_gateway_signature_rejected_total": "webhooks refused for their signature",
    "cashloop_gateway_forwarded_total": "canonical events delivered to Temporal",
    "cashloop_gateway_backlog_events": "canonical events in the inbox not yet delivered",
    "cashloop_gateway_backlog_oldest_age_seconds": "age of the oldest undelivered event",
    "cashloop_gateway_engine_backlog_tasks": "workflow tasks queued in the engine at the "
                                             "forwarder's last reading",
    "cashloop_gateway_breaker_state": "circuit breaker state (0 closed, 1 half-open, 2 open)",
    "cashloop_gateway_post_validations": "post-validations by status",
}
GAUGES = {"cashloop_gateway_backlog_events", "cashloop_gateway_backlog_oldest_age_seconds",
          "cashloop_gateway_engine_backlog_tasks",
          "cashloop_gateway_breaker_state", "cashloop_gateway_post_validations"}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self.counters: Counter[tuple[str, Labels]] = Counter()

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += n

    def value(self, name: str, **labels: str) -> int:
        return self.counters[(name, tuple(sorted(labels.items())))]

    def render(self, gauges: Callable[[], Iterable[tuple[str, Labels, float]]]) -> str:
        samples: dict[str, list[tuple[Labels, float]]] = {}
        value: float
        for (name, labels), value in self.counters.items():
            samples.setdefault(name, []).append((labels, float(value)))
        for name, labels, value in gauges():
            samples.setdefault(name, []).append((labels, value))
        lines = []
        for name in sorted(samples):
            lines.append(f"# HELP {name} {HELP.get(name, name)}")
            lines.append(f"# TYPE {name} {'gauge' if name in GAUGES else 'counter'}")
            for labels, value in samples[name]:
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")
        return "\n".join(lines) + "\n"
