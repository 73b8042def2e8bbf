"""Configuration errors of logging and tracing are clear, and nothing is installed by them."""

from __future__ import annotations

import importlib.util

import pytest

from observability.logging import build_handler
from observability.tracing import TracingUnavailableError, configure_tracing


def test_unknown_log_format_and_trace_exporter_are_refused() -> None:
    with pytest.raises(ValueError):
        build_handler("xml", service="t")
    with pytest.raises(ValueError):
        configure_tracing("zipkin", "t")


def test_tracing_off_installs_nothing() -> None:
    assert configure_tracing("none", "t") is None


@pytest.mark.skipif(importlib.util.find_spec("opentelemetry.exporter.otlp") is not None,
                    reason="the optional OTLP exporter is installed here")
def test_otlp_without_its_optional_package_says_what_to_install() -> None:
    with pytest.raises(TracingUnavailableError):
        configure_tracing("otlp", "t")
