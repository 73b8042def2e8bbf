"""Business figures only workflows know, handed to the worker's metrics (replay-safe).

Workflow code cannot touch OpenTelemetry (no side effects in the sandbox), so it calls
a function the worker registers outside the sandbox (observability.workflow_metrics,
installed by the worker's ObservabilityInterceptor). Nothing is recorded while a
workflow replays, and no command is written: histories are unaffected.
"""

from __future__ import annotations

from temporalio import workflow

# The extern function's name; observability.workflow_metrics registers it (a unit test
# checks both sides agree).
EXTERN = "cashloop_record_metric"


def measure(name: str, value: float, **labels: str) -> None:
    """Record `value` on the business instrument `name` (e.g. renewal_processing_lag)."""
    if workflow.unsafe.is_replaying():
        return
    record = workflow.extern_functions().get(EXTERN)
    if record is not None:
        record(name, value, labels)
