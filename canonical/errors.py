"""The one error hierarchy of Cashloop; adapters raise these, activities translate them.

CashloopError
 +-- PermanentError            retrying cannot help; the flow parks
 |    +-- InvalidDataError     the request is malformed or breaks a business rule
 |    +-- NotFoundError        a referenced record does not exist
 |    +-- RejectedError        the system of record refused the operation
 +-- TransientError            retry later with backoff
      +-- UnavailableError     timeout, connection refused, 5xx
      +-- RateLimitedError     429; carries the system's Retry-After
"""

from __future__ import annotations


class CashloopError(Exception):
    """Base of every error Cashloop raises on purpose.

    Args:
        message: what went wrong, for humans.
        system: the system that raised it ("erp", "crm", "tax", ...).
    """

    kind_suffix = "error"
    retryable = False

    def __init__(self, message: str, *, system: str = "cashloop") -> None:
        super().__init__(message)
        self.message = message
        self.system = system

    @property
    def kind(self) -> str:
        """A stable machine-readable type such as ``erp.rejected``."""
        return f"{self.system}.{self.kind_suffix}"


class PermanentError(CashloopError):
    kind_suffix = "permanent"


class InvalidDataError(PermanentError):
    kind_suffix = "invalid_data"


class NotFoundError(PermanentError):
    kind_suffix = "not_found"


class RejectedError(PermanentError):
    kind_suffix = "rejected"


class TransientError(CashloopError):
    kind_suffix = "transient"
    retryable = True


class UnavailableError(TransientError):
    kind_suffix = "unavailable"


class RateLimitedError(TransientError):
    kind_suffix = "rate_limited"

    def __init__(
        self, message: str, *, system: str = "cashloop", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, system=system)
        self.retry_after_s = retry_after_s


class UnbalancedJournalError(InvalidDataError):
    """A journal entry whose debits and credits differ; never posted."""

    kind_suffix = "unbalanced_journal"
