"""Business and engine metrics (OpenTelemetry metrics API, exported for Prometheus).

Instrument names as Prometheus shows them (counters get `_total`, the unit a suffix):

| instrument | kind | labels | emitted by |
|---|---|---|---|
| cashloop_invoice_postings | counter | legal_entity, outcome | ERP activity (interceptor) |
| cashloop_payment_application_latency_seconds | histogram | legal_entity | entity (measure) |
| cashloop_activity_attempts | counter | activity, task_queue, outcome | activity interceptor |
| cashloop_activity_retries | counter | activity, task_queue, error_type | activity interceptor |
| cashloop_activity_failures | counter | activity, task_queue, error_type | activity interceptor |
| cashloop_parked_items | gauge | flow, reason | Temporal visibility, at each scrape (worker) |
| cashloop_parkings | counter | flow, reason | flows, each time one parks (measure) |
| cashloop_erp_api_errors | counter | erp (target), status_code | adapters/http.py |
| cashloop_renewal_processing_lag_seconds | histogram | legal_entity, outcome | renewal (measure) |
| cashloop_inbox_backlog | gauge | source | gateway |
| cashloop_reconciliation_exceptions | counter | legal_entity, kind | reconciliation (none yet) |
| cashloop_worker_full_collections | counter | forced | worker_gc.py |
| cashloop_worker_full_collection_pause_seconds | histogram | forced | worker_gc.py |
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_meter = metrics.get_meter("cashloop")

invoice_postings = _meter.create_counter(
    "cashloop_invoice_postings", description="Invoices posted to an ERP, by outcome")
payment_application_latency = _meter.create_histogram(
    "cashloop_payment_application_latency", unit="s",
    description="From payment event received to payment applied in the ERP")
activity_attempts = _meter.create_counter(
    "cashloop_activity_attempts", description="Activity attempts, by outcome")
activity_retries = _meter.create_counter(
    "cashloop_activity_retries", description="Failed activity attempts that Temporal retries")
activity_failures = _meter.create_counter(
    "cashloop_activity_failures", description="Activities that failed for good")
parkings = _meter.create_counter(
    "cashloop_parkings", description="Times a flow parked for an operator, by reason")
erp_api_errors = _meter.create_counter(
    "cashloop_erp_api_errors", description="ERP API calls answered with an error")
renewal_processing_lag = _meter.create_histogram(
    "cashloop_renewal_processing_lag", unit="s",
    description="From a renewal's due time to its completion")
reconciliation_exceptions = _meter.create_counter(
    "cashloop_reconciliation_exceptions", description="Reconciliation differences found")
worker_full_collections = _meter.create_counter(
    "cashloop_worker_full_collections",
    description="The worker's full garbage collections (forced: run with activations in flight)")
worker_full_collection_pause = _meter.create_histogram(
    "cashloop_worker_full_collection_pause", unit="s",
    description="How long a full garbage collection held the worker's interpreter",
    # the SDK's deadlock detection fails an activation held 2 s
    explicit_bucket_boundaries_advisory=[0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])

_backlog_sources: list[Callable[[], Iterable[tuple[int, dict[str, str]]]]] = []


def _observe_backlog(_options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_backlog_sources):
        for value, labels in source():
            yield Observation(value, labels)


inbox_backlog = _meter.create_observable_gauge(
    "cashloop_inbox_backlog", callbacks=[_observe_backlog],
    description="Events received but not yet delivered to a workflow")


def observe_inbox_backlog(source: Callable[[], Iterable[tuple[int, dict[str, str]]]]
                          ) -> Callable[[], None]:
    """Register a callback giving (depth, labels) pairs at each scrape (the gateway's inbox).

    Returns the function that unregisters it (the gateway's shutdown calls it).
    """
    _backlog_sources.append(source)
    return lambda: _backlog_sources.remove(source) if source in _backlog_sources else None


_parked_sources: list[Callable[[], Iterable[tuple[int, dict[str, str]]]]] = []


def _observe_parked(_options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_parked_sources):
        for value, labels in source():
            yield Observation(value, labels)


parked_items = _meter.create_observable_gauge(
    "cashloop_parked_items", callbacks=[_observe_parked],
    description="Flows parked now, waiting for an operator (from Temporal visibility)")


def observe_parked(source: Callable[[], Iterable[tuple[int, dict[str, str]]]]
                   ) -> Callable[[], None]:
    """Register a callback giving (count, {flow, reason}) pairs at each scrape (the worker).

    Returns the function that unregisters it (call it when the client goes away).
    """
    _parked_sources.append(source)
    return lambda: _parked_sources.remove(source) if source in _parked_sources else None


_lock = threading.Lock()
_installed = False


def install_meter_provider() -> bool:
    """Install the global MeterProvider with a Prometheus reader, once per process.

    Returns False when a provider was installed before (the call is then a no-op).
    """
    global _installed
    with _lock:
        if _installed:
            return False
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider

        metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
        _installed = True
        return True


class MetricsServer:
    """The `/metrics` HTTP endpoint of this process (Prometheus text format).

    Args:
        host: interface to bind.
        port: port to bind (0 = a free one; see `port` after start).
    """

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        install_meter_provider()
        self._server, self._thread = start_http_server(port, addr=host)
        self.host = host
        self.port: int = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def sdk_runtime(host: str, port: int) -> Any:
    """A Temporal Runtime exporting the SDK's own metrics on http://host:port/metrics.

    The Temporal SDK (its Rust core) serves these itself, so they get their own port.
    """
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"{host}:{port}", counters_total_suffix=True,
                                 durations_as_seconds=True)))
