"""Translation of canonical errors into Temporal's ApplicationError at the activity boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from canonical.errors import CashloopError, PermanentError, RateLimitedError


@contextmanager
def translated_errors() -> Iterator[None]:
    """Permanent errors stop retrying; rate limits retry after the system's Retry-After.

    The ApplicationError `type` is the error's stable kind (e.g. ``erp.rejected``), which
    is what workflows branch on and what a parked flow shows as its reason.
    """
    try:
        yield
    except PermanentError as err:
        raise ApplicationError(err.message, type=err.kind, non_retryable=True) from err
    except RateLimitedError as err:
        delay = timedelta(seconds=err.retry_after_s) if err.retry_after_s else None
        raise ApplicationError(err.message, type=err.kind, next_retry_delay=delay) from err
    except CashloopError as err:
        raise ApplicationError(err.message, type=err.kind) from err
