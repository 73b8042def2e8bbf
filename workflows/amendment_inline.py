"""An amendment inside the entity: the common case without a child workflow.

As with activation (activation_inline.py): nearly every amendment goes through at the
first attempt, yet an AmendmentFlow child costs the server a workflow start and close,
its own workflow task, two more workflow tasks and three child events in the entity, and
a visibility record. So the entity runs AmendmentFlow's attempt itself — the very same
code (`AmendmentFlow._attempt`), the same document ids and postings — and only when a
step still fails after its activities' retries does it start AmendmentFlow. That flow
runs the attempt again from the start (every posting is idempotent by external id: what
the entity's attempt landed is answered "duplicate" and so counted as landed, and its
reversal is pushed before it is posted), and owns everything a failure needs:
compensation of what landed, parking, the operator's retry or skip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from .amendment import AmendmentFlow, AmendmentInput, AmendmentResult, AmendmentState
from .calls import Calls
from .saga import Compensations

# Histories recorded before it start AmendmentFlow for every amendment.
PATCH_INLINE_AMENDMENT = "amendment-in-entity"

T = TypeVar("T")


class _StepFailedError(Exception):
    """A step of the inline attempt failed after its retries: AmendmentFlow takes over."""


class _InlineAmendment:
    """What AmendmentFlow's attempt asks of its flow, answered for a run in the entity:
    a step runs once (its activities retry as they always do) and a failure ends the
    attempt; state and audit stay with the entity, which records the outcome."""

    FLOW = AmendmentFlow.FLOW
    _attempt = AmendmentFlow._attempt
    _amendment = AmendmentFlow._amendment
    _skipped = AmendmentFlow._skipped

    def __init__(self, inp: AmendmentInput) -> None:
        self._input = inp
        self._calls = Calls(inp.config)
        self._state = AmendmentState.STARTED

    def _transition(self, to: AmendmentState, **_: Any) -> None:
        self._state = to

    def _record(self, *_: Any, **__: Any) -> None:
        pass

    def _remember(self, *_: Any) -> None:
        pass  # the child's own search attributes; the entity keeps its invoices' own

    async def _step(self, step: str, call: Callable[[Any], Awaitable[T]], **_: Any) -> T:
        try:
            return await call(None)
        except (ActivityError, ApplicationError) as err:
            raise _StepFailedError(step) from err


async def amend_inline(inp: AmendmentInput) -> AmendmentResult | None:
    """AmendmentFlow's first attempt, run by the caller; None when a step failed for
    good (AmendmentFlow then runs it again and compensates)."""
    host = _InlineAmendment(inp)
    try:
        # the host answers what _attempt asks of its flow, but is no AmendmentFlow
        return await host._attempt(  # type: ignore[misc]
            Compensations(), inp.generation, None)
    except _StepFailedError as err:
        workflow.logger.info("amendment step failed in the entity; AmendmentFlow takes over",
                             extra={"step": str(err), "error": str(err.__cause__)})
        return None
