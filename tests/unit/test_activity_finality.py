"""Which failed activity attempts the metrics count as final (observability/interceptor.py)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from observability.interceptor import is_final

POLICY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


def info(activity_type: str, *, local: bool, attempt: int) -> Any:
    return SimpleNamespace(activity_type=activity_type, is_local=local, attempt=attempt,
                           retry_policy=POLICY)


def test_a_failed_local_erp_attempt_is_never_final_the_erp_queue_takes_over() -> None:
    refused = ApplicationError("refused", type="erp.rejected", non_retryable=True)
    down = ApplicationError("down", type="erp.unavailable")
    assert not is_final(refused, info("post_routed", local=True, attempt=1))
    assert not is_final(down, info("post_to_erp", local=True, attempt=3))


def test_the_same_failures_on_the_erp_queue_and_other_local_calls_are_final() -> None:
    refused = ApplicationError("refused", type="erp.rejected", non_retryable=True)
    down = ApplicationError("down", type="erp.unavailable")
    assert is_final(refused, info("post_routed", local=False, attempt=1))
    assert is_final(down, info("post_to_erp", local=False, attempt=3))
    assert not is_final(down, info("post_to_erp", local=False, attempt=2))
    assert is_final(down, info("calculate_tax", local=True, attempt=3))
