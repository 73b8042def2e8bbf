"""OpenTelemetry tracing: the Temporal interceptor, the exporter choice, span helpers.

The client's `TracingInterceptor` also applies to every worker built on that client, so
one trace runs from the caller (starter, gateway) through the workflow and its
activities into the adapters' HTTP calls and on into the systems they call (W3C
`traceparent` header). Exporters: none (default), console, or otlp when the optional
`opentelemetry-exporter-otlp` package is installed.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from temporalio.contrib.opentelemetry import TracingInterceptor

EXPORTERS = ("none", "console", "otlp")
CORRELATION_ATTRIBUTE = "correlation_id"


class TracingUnavailableError(RuntimeError):
    """The configured exporter needs a package that is not installed."""


def client_interceptors() -> list[Any]:
    """Interceptors for every Temporal client (and so for the workers built on it)."""
    return [TracingInterceptor()]


def has_tracing(interceptors: Any) -> bool:
    return any(isinstance(i, TracingInterceptor) for i in interceptors or ())


def configure_tracing(exporter: str, service: str) -> Any:
    """Install the global tracer provider for `exporter`; None when tracing is off."""
    if exporter not in EXPORTERS:
        raise ValueError(f"trace exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    if exporter == "none":
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"cashloop-{service}"}))
    span_exporter: Any
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:  # optional: only where an OTLP collector is used
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise TracingUnavailableError(
                "CASHLOOP_OTEL_EXPORTER=otlp needs `pip install opentelemetry-exporter-otlp` "
                "(endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)") from exc
        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return provider


def client_span(name: str, *, correlation_id: str, attributes: Mapping[str, Any],
                headers: MutableMapping[str, str]) -> Any:
    """Start an outgoing-call span; the trace context goes into `headers` (W3C)."""
    tracer = trace.get_tracer("cashloop")
    span = tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT,
        attributes={CORRELATION_ATTRIBUTE: correlation_id, **attributes})
    return _Injecting(span, headers)


class _Injecting:
    """Context manager: enter the span, then inject its context into the headers."""

    def __init__(self, cm: Any, headers: MutableMapping[str, str]) -> None:
        self._cm = cm
        self._headers = headers

    def __enter__(self) -> Span:
        span: Span = self._cm.__enter__()
        propagate.inject(self._headers)
        return span

    def __exit__(self, *exc: Any) -> Any:
        return self._cm.__exit__(*exc)


def server_span(name: str, headers: Mapping[str, str], attributes: Mapping[str, Any]) -> Any:
    """Start an incoming-request span continuing the caller's trace (W3C headers)."""
    ctx = propagate.extract(headers)
    return trace.get_tracer("cashloop").start_as_current_span(
        name, context=ctx, kind=SpanKind.SERVER, attributes=dict(attributes))
