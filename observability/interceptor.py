"""Worker interceptor: log context, span attributes and metrics around every activity,
and the hook through which workflows record business figures (workflow_metrics).

Binds correlation_id, workflow_id, run_id, activity and legal_entity (from the activity's
input, where it has them) to every log line written while the activity runs, sets
correlation_id on the current span, and counts attempts, retries and final failures by
activity type and error type.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from activities.erp import LOCAL_FIRST

from . import metrics, workflow_metrics
from .tracing import CORRELATION_ATTRIBUTE

log = structlog.get_logger("cashloop.activity")


def error_type(err: BaseException) -> str:
    """The stable error class: the ApplicationError type (e.g. erp.rejected) or class name."""
    if isinstance(err, ApplicationError) and err.type:
        return err.type
    return type(err).__name__


def is_final(err: BaseException, info: activity.Info) -> bool:
    """True when Temporal will not retry this failure."""
    if info.is_local and info.activity_type in LOCAL_FIRST:
        return False  # the ERP queue takes the call over (activities/erp.py)
    if isinstance(err, ApplicationError) and err.non_retryable:
        return True
    policy = info.retry_policy
    if policy is not None and policy.non_retryable_error_types and \
            error_type(err) in policy.non_retryable_error_types:
        return True
    return bool(policy and policy.maximum_attempts and info.attempt >= policy.maximum_attempts)


def _context(info: activity.Info, arg: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"workflow_id": info.workflow_id, "run_id": info.workflow_run_id,
                           "activity": info.activity_type, "attempt": info.attempt}
    for field in ("correlation_id", "legal_entity"):
        value = getattr(arg, field, None)
        if isinstance(value, str):
            ctx[field] = value
    return ctx


def _invoice_postings(arg: Any) -> tuple[int, str | None]:
    """Invoices in an ERP activity's input: one target's postings or several (groups)."""
    groups = getattr(arg, "groups", None) or [arg]
    count, entity = 0, None
    for group in groups:
        invoices = sum(1 for p in getattr(group, "postings", None) or []
                       if getattr(p, "kind", None) == "invoice")
        if invoices:
            count += invoices
            entity = entity or getattr(group, "legal_entity", None)
    return count, entity if count else getattr(groups[0], "legal_entity", None)


class ObservabilityInterceptor(Interceptor):
    """Add to a Worker's interceptors (worker.build_workers does)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor] | None:
        # Workflows record business figures through this function (workflows/measure.py).
        input.unsafe_extern_functions[workflow_metrics.EXTERN] = workflow_metrics.record
        return None


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        arg = input.args[0] if input.args else None
        ctx = _context(info, arg)
        labels = {"activity": info.activity_type, "task_queue": info.task_queue}
        if "correlation_id" in ctx:
            trace.get_current_span().set_attribute(CORRELATION_ATTRIBUTE, ctx["correlation_id"])
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(**ctx):
            try:
                result = await super().execute_activity(input)
            except asyncio.CancelledError:
                metrics.activity_attempts.add(1, {**labels, "outcome": "cancelled"})
                raise
            except BaseException as err:
                # raise_complete_async() is no failure: the activity completes later.
                if type(err).__name__ != "_CompleteAsyncError":
                    self._failed(err, info, arg, labels, started)
                raise
            metrics.activity_attempts.add(1, {**labels, "outcome": "completed"})
            invoices, entity = _invoice_postings(arg)
            if invoices:
                metrics.invoice_postings.add(invoices, {"legal_entity": entity or "",
                                                        "outcome": "success"})
            log.debug("activity_completed", duration_ms=round((time.monotonic() - started) * 1e3))
            return result

    @staticmethod
    def _failed(err: BaseException, info: activity.Info, arg: Any, labels: dict[str, str],
                started: float) -> None:
        kind = error_type(err)
        final = is_final(err, info)
        metrics.activity_attempts.add(1, {**labels, "outcome": "failed"})
        counter = metrics.activity_failures if final else metrics.activity_retries
        counter.add(1, {**labels, "error_type": kind})
        invoices, entity = _invoice_postings(arg)
        if final and invoices:
            metrics.invoice_postings.add(invoices, {"legal_entity": entity or "",
                                                    "outcome": "failure"})
        log.warning("activity_failed", error_type=kind, final=final, error=str(err)[:300],
                    duration_ms=round((time.monotonic() - started) * 1e3))
