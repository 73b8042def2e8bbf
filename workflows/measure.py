"""Business figures only workflows know, handed to the worker's metrics (replay-safe).

Workflow code cannot touch OpenTelemetry (no side effects in the sandbox), so it calls
a function the worker registers outside the sandbox (observability.workflow_metrics,
installed by the worker's ObservabilityInterceptor). Nothing is recorded while a
workflow replays, and no command is written: histories are unaffected.
"""

from __future__ import annotations

import datetime as dt

from temporalio import workflow

ARRIVALS_KEEP = 1000  # arrival times of payment events not applied yet

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


class PaymentArrivals:
    """When each payment event reached the entity (its signal), until the ERP has it.

    Kept in the run's memory only: a payment that arrived before a continue-as-new is
    not measured (a metric, not state).
    """

    def __init__(self) -> None:
        self._at: dict[str, dt.datetime] = {}

    def arrived(self, event_id: str) -> None:
        self._at.setdefault(event_id, workflow.now())
        if len(self._at) > ARRIVALS_KEEP:  # duplicates are dropped, never applied
            self._at.pop(next(iter(self._at)))

    def applied(self, event_id: str, legal_entity: str) -> None:
        """The ERP took the document: record the payment's latency (if it was one)."""
        at = self._at.pop(event_id, None)
        if at is not None:
            measure("payment_application_latency", (workflow.now() - at).total_seconds(),
                    legal_entity=legal_entity)
