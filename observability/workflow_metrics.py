"""The worker side of workflows.measure: business figures recorded from workflow code.

A workflow calls the extern function EXTERN (registered here for every workflow the
worker runs) with an instrument name, a value and labels; the figure lands on the
worker's /metrics like every other business metric.
"""

from __future__ import annotations

from collections.abc import Callable

from . import metrics

EXTERN = "cashloop_record_metric"  # = workflows.measure.EXTERN

_INSTRUMENTS: dict[str, Callable[[float, dict[str, str]], None]] = {
    "payment_application_latency": metrics.payment_application_latency.record,
    "renewal_processing_lag": metrics.renewal_processing_lag.record,
    "parkings": lambda value, labels: metrics.parkings.add(int(value), labels),
}


def record(name: str, value: float, labels: dict[str, str]) -> None:
    """Called from workflow code (outside the sandbox); an unknown name is ignored."""
    instrument = _INSTRUMENTS.get(name)
    if instrument is not None:
        instrument(value, dict(labels))
