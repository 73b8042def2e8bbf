"""structlog for every process: JSON in production, readable console lines in development.

One processor chain serves structlog loggers and the standard library alike (the
Temporal SDK, uvicorn and httpx log through `logging`), so every line gets the same
context (service, correlation id, workflow/run id, activity, legal entity, trace id) and
goes through the PII mask (observability.masking) right before it is rendered.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict

from .masking import mask_event

FORMATS = ("console", "json")
# Temporal's workflow.logger / activity.logger put their context in these extras.
_TEMPORAL_EXTRAS = {"temporal_workflow": ("workflow_id", "run_id", "workflow_type"),
                    "temporal_activity": ("workflow_id", "workflow_run_id", "activity_type")}
_RENAMES = {"workflow_run_id": "run_id", "activity_type": "activity"}


def _temporal_context(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Lift workflow/activity ids from the Temporal SDK's log extras to top-level keys."""
    for extra, keys in _TEMPORAL_EXTRAS.items():
        info = event.pop(extra, None)
        if isinstance(info, dict):
            for key in keys:
                if info.get(key) is not None:
                    event.setdefault(_RENAMES.get(key, key), info[key])
    return event


def _trace_ids(_logger: Any, _method: str, event: EventDict) -> EventDict:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def _service(name: str) -> Any:
    def add(_logger: Any, _method: str, event: EventDict) -> EventDict:
        event.setdefault("service", name)
        return event
    return add


def _drop_noise(_logger: Any, _method: str, event: EventDict) -> EventDict:
    for key in ("_from_structlog", "_record", "color_message", "taskName"):
        event.pop(key, None)
    return event


def build_handler(fmt: str, service: str, stream: IO[str] | None = None) -> logging.Handler:
    """A stdlib handler rendering structlog and stdlib records through one masked chain."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose one of {', '.join(FORMATS)}")
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    pre_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _drop_noise,
                    _temporal_context, _trace_ids, _service(service),
                    structlog.processors.format_exc_info, mask_event, renderer])
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("cashloop")
    return handler


def configure_logging(fmt: str = "console", level: str = "INFO", *, service: str,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Route structlog and stdlib logging of this process through one masked handler."""
    structlog.configure(
        # filter_by_level first: a debug line below the level costs one check, no processing.
        processors=[structlog.stdlib.filter_by_level, structlog.contextvars.merge_contextvars,
                    structlog.stdlib.add_logger_name, structlog.stdlib.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # The chain never changes between configure calls (only the handler does).
        cache_logger_on_first_use=True)
    handler = build_handler(fmt, service, stream)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cashloop"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler


@contextmanager
def captured_logs(fmt: str = "json", service: str = "test") -> Iterator[list[str]]:
    """Every line this process logs while inside, rendered as in production (for tests)."""
    import io

    buffer = io.StringIO()
    root = logging.getLogger()
    before = root.level
    handler = configure_logging(fmt, "DEBUG", service=service, stream=buffer)
    lines: list[str] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        lines.extend(buffer.getvalue().splitlines())


def get_logger(name: str) -> Any:
    """A structlog logger (bound to the context of the current activity or request)."""
    return structlog.get_logger(name)
