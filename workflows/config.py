"""Flow configuration, carried in workflow inputs so it survives continue-as-new."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import RetryPolicy

from . import DEFAULT_ERP_TASK_QUEUE, DEFAULT_TASK_QUEUE

CODE_VERSION = 9


class FlowConfig(BaseModel):
    """Knobs of the order-to-cash flows; the starter and gateway fill it from settings."""

    model_config = ConfigDict(frozen=True)

    task_queue: str = DEFAULT_TASK_QUEUE
    erp_task_queue: str = DEFAULT_ERP_TASK_QUEUE
    # Attempts of one activity before its flow parks for an operator. 25 attempts at
    # 1 s doubling to 60 s retry transient failures for about 20 minutes: a system that
    # fails one call in five (or a batch that touches two ERPs, ~40 % per attempt under
    # the chaos drill's faults) never exhausts them by chance (0.4^25 < 1e-9), while one
    # that is down for longer parks visibly. 8 attempts (~2 minutes) ran out by chance:
    # three ERP batches per 10,000-event drill, and one parked a payment.
    activity_max_attempts: int = Field(default=25, ge=1)
    activity_initial_interval_s: float = Field(default=1.0, gt=0)
    activity_max_interval_s: float = Field(default=60.0, gt=0)
    # How long a gap in `sequence` is waited for before proceeding (workflow time).
    sequence_gap_wait_s: float = Field(default=600.0, ge=0)
    renewal_lead_days: int = Field(default=30, ge=0)
    # Renew auto-renewing subscriptions (RenewalFlow); off in tests that do not want them.
    renewals_enabled: bool = True
    # Days after a failed payment on which dunning retries collection (ascending).
    dunning_retry_days: list[int] = Field(default_factory=lambda: [3, 5, 7])
    # Length of a "day" for dunning timers; shortened in demos and tests.
    day_seconds: float = Field(default=86400.0, gt=0)
    # Polling of an ERP that confirms postings later (renewal: AwaitingErpConfirmation).
    erp_confirmation_poll_s: float = Field(default=30.0, gt=0)
    erp_confirmation_poll_max_s: float = Field(default=3600.0, gt=0)
    continue_as_new_after_events: int = Field(default=500, ge=1)
    # Continue as new once the entity has had nothing to do for this long (None: never),
    # so the next event after a quiet spell replays a short run instead of everything
    # since the last continue-as-new: what an event for an entity evicted from the
    # worker's cache costs (bench/scale.py). Deployments set it (cli/send.py flow_config:
    # an hour, overridable in CASHLOOP_FLOW_CONFIG_JSON); inputs without it never idle
    # out, so histories recorded before it replay unchanged.
    idle_continue_as_new_s: float | None = Field(default=None, gt=0)
    # A dunning ladder that writes off tells the billing system (marks the invoice
    # uncollectible, cancels the subscription there: adapters/billing). cli/send.py
    # flow_config sets it where a billing connector is configured; inputs without it
    # never call, so histories recorded before it replay unchanged.
    close_written_off_upstream: bool = False
    # The event sources whose subscriptions that billing system bills (the Stripe
    # mapping's "stripe"); a ladder started by another source's failure writes off without
    # telling it. None: every source (one billing system bills everything).
    close_upstream_sources: list[str] | None = None
    seen_event_ids_max: int = Field(default=5000, ge=10)
    # Off where the server has no Cashloop search attributes (the time-skipping server).
    search_attributes: bool = True
    # The code that started the flow (workflows/versions.py): new starts get CODE_VERSION
    # from whoever builds their config; inputs recorded before have none, hence 0.
    code_version: int = 0

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.activity_initial_interval_s),
            maximum_interval=timedelta(seconds=self.activity_max_interval_s),
            backoff_coefficient=2.0,
            maximum_attempts=self.activity_max_attempts,
        )


# Timeouts of one activity attempt (STYLE: named constants, not literals at call sites).
CALL_TIMEOUT = timedelta(seconds=30)
RULES_TIMEOUT = timedelta(seconds=10)
