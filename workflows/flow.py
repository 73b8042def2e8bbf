"""What every flow shares: a checked state machine, an audit trail, and parking.

Parking is the dead-letter queue: a step whose activity still fails after its
retries does not fail the workflow; the flow shows PostingStatus=parked with the
reason and waits for an operator's `retry` (optionally with corrected input) or
`skip` (with a reason).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
)

from . import search
from .config import FlowConfig
from .flow_search import FlowSearch
from .measure import measure

T = TypeVar("T")
AUDIT_KEEP = 500  # newest records kept in state; older ones stay in earlier runs' histories


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    flow: str
    from_state: str
    to_state: str
    event_id: str | None = None
    correlation_id: str | None = None
    documents: list[str] = []
    note: str = ""


class ParkedStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    flow: str
    step: str
    reason: str  # the failing error's type, e.g. erp.rejected
    message: str
    # How often this step has parked (1 + operator retries that failed again).
    attempts: int
    # Why Temporal stopped retrying: MAXIMUM_ATTEMPTS_REACHED, NON_RETRYABLE_FAILURE, ...
    retry_state: str
    since: datetime


class RetryInput(BaseModel):
    """Operator's release of a parked step; `corrected` replaces the step's input if given."""

    operator: str = ""
    note: str = ""
    corrected: dict[str, Any] | None = None


class SkipInput(BaseModel):
    operator: str = ""
    reason: str


class Skipped(BaseModel):
    """The result of a step an operator skipped."""

    reason: str


class ChildProgress(BaseModel):
    """What a child flow tells its parent: its state, a long wait, parking, its end.

    `outcome` is the flow's result (JSON) when `finished`; background flows (renewal,
    dunning, cancellation) report their results this way because they outlive the
    parent run that started them (continue-as-new).
    """

    workflow_id: str
    flow: str
    state: str
    waiting_until: datetime | None = None
    parked: bool = False
    finished: bool = False
    outcome: dict[str, Any] | None = None


class StepFailedForGoodError(Exception):
    """A saga step failed permanently: the flow compensates what it did, then parks."""

    def __init__(self, step: str, reason: str, message: str) -> None:
        super().__init__(f"{step}: {reason}: {message}")
        self.step, self.reason, self.message = step, reason, message


class IllegalTransitionError(ApplicationError):
    def __init__(self, flow: str, frm: str, to: str) -> None:
        super().__init__(f"{flow}: illegal transition {frm} -> {to}",
                         type="flow.illegal_transition", non_retryable=True)


StepFailure = ActivityError | ChildWorkflowError | ApplicationError


def failure_reason(err: StepFailure) -> tuple[str, str, str]:
    """(error type, message, retry state) of an activity or child workflow failure.

    A local activity that fails non-retryably surfaces as its bare ApplicationError.
    """
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    kind = cause.type if isinstance(cause, ApplicationError) and cause.type else None
    retry_state = getattr(err, "retry_state", None)
    if retry_state is None and isinstance(err, ApplicationError) and err.non_retryable:
        retry_state = RetryState.NON_RETRYABLE_FAILURE
    state = retry_state.name if retry_state is not None else "UNSPECIFIED"
    return kind or type(cause).__name__, str(cause), state


def is_permanent(err: StepFailure) -> bool:
    """True when retrying cannot help: the failure was marked non-retryable."""
    if getattr(err, "retry_state", None) == RetryState.NON_RETRYABLE_FAILURE:
        return True
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable


class Flow(FlowSearch):
    """Mixin for workflow classes; subclasses set FLOW, TRANSITIONS and call `_init_flow`."""

    FLOW: ClassVar[str]
    TRANSITIONS: ClassVar[dict[Any, frozenset[Any]]]
    # The PostingStatus a state implies (states not listed leave it as it is).
    POSTING: ClassVar[dict[Any, search.PostingStatus]] = {}

    def _init_flow(self, config: FlowConfig, initial: StrEnum, correlation_id: str,
                   audit: list[AuditRecord] | None = None) -> None:
        self._config = config
        self._state: Any = initial
        self._correlation_id = correlation_id
        self._audit: list[AuditRecord] = list(audit or [])
        self._parked: ParkedStep | None = None
        self._release: RetryInput | SkipInput | None = None
        self._children: dict[str, ChildProgress] = {}
        self._init_search()

    # --- state machine -----------------------------------------------------------------

    def _transition(self, to: StrEnum, *, event_id: str | None = None, note: str = "",
                    documents: list[str] | None = None) -> None:
        """The one place where a flow changes state; illegal moves fail the workflow task."""
        if to != self._state and to not in self.TRANSITIONS.get(self._state, frozenset()):
            raise IllegalTransitionError(self.FLOW, self._state, to)
        self._record(str(to), event_id=event_id, note=note, documents=documents)
        self._state = to
        status = self.POSTING.get(to)
        self._upsert(search.O2C_STATE.value_set(str(to)),
                     *([search.POSTING_STATUS.value_set(status)] if status else []),
                     *self._transition_search(to, documents or []))

    def _transition_search(self, to: StrEnum, documents: list[str]
                           ) -> list[SearchAttributeUpdate[Any]]:
        """Further attributes a flow sets on a transition (its documents, by default)."""
        return [self._with_documents(documents)] if documents else []

    def _record(self, to_state: str, *, event_id: str | None = None, note: str = "",
                documents: list[str] | None = None) -> None:
        self._audit.append(AuditRecord(
            at=workflow.now(), flow=self.FLOW, from_state=str(self._state), to_state=to_state,
            event_id=event_id, correlation_id=self._correlation_id,
            documents=documents or [], note=note))
        del self._audit[:-AUDIT_KEEP]

    # --- parking -----------------------------------------------------------------------

    @workflow.signal
    def retry(self, req: RetryInput) -> None:
        """Operator: run the parked step again (with corrected input when given)."""
        if self._parked is not None:
            self._release = req

    @workflow.signal
    def skip(self, req: SkipInput) -> None:
        """Operator: give up on the parked step, with a reason kept in the audit trail."""
        if self._parked is not None:
            self._release = req

    @workflow.query
    def parked(self) -> ParkedStep | None:
        return self._parked

    @workflow.query
    def audit_trail(self) -> list[AuditRecord]:
        return list(self._audit)

    @workflow.signal
    def child_progress(self, progress: ChildProgress) -> None:
        """A child flow's state, long wait, parking or end (see ChildProgress)."""
        self._on_child_progress(progress)

    def _on_child_progress(self, progress: ChildProgress) -> None:
        if progress.finished:
            self._children.pop(progress.workflow_id, None)
        else:
            self._children[progress.workflow_id] = progress

    async def _notify_parent(self, *, waiting_until: datetime | None = None,
                             finished: bool = False,
                             outcome: dict[str, Any] | None = None) -> None:
        """Tell the parent workflow (if any) where this flow stands; never fails the flow."""
        parent = workflow.info().parent
        if parent is None:
            return
        progress = ChildProgress(
            workflow_id=workflow.info().workflow_id, flow=self.FLOW, state=str(self._state),
            waiting_until=waiting_until, parked=self._parked is not None, finished=finished,
            outcome=outcome)
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "child_progress", progress)
        except Exception as err:  # the parent is gone: nothing to tell
            workflow.logger.warning("parent not signalled", extra={"error": str(err)})

    async def _step(self, step: str, call: Callable[[dict[str, Any] | None], Awaitable[T]],
                    *, failed: StepFailure | None = None,
                    permanent: Literal["park", "raise"] = "park") -> T | Skipped:
        """Run `call`; when it fails for good, park until an operator retries or skips.

        `call` receives the operator's corrected input on a retry, else None. `failed`
        is a failure the caller already saw: the step parks with it before calling.
        With `permanent="raise"` (a saga step) a non-retryable failure raises
        StepFailedForGoodError instead, so the flow compensates before it parks;
        exhausted retries of a transient failure park at the step either way.
        """
        corrected: dict[str, Any] | None = None
        attempts = 0
        while True:
            try:
                if failed is not None:
                    err, failed = failed, None
                    raise err
                return await call(corrected)
            except (ActivityError, ChildWorkflowError, ApplicationError) as err:
                if isinstance(err, IllegalTransitionError):
                    raise  # a bug in the flow, not a failing system
                reason, message, retry_state = failure_reason(err)
                if permanent == "raise" and is_permanent(err) and self._has_compensations():
                    raise StepFailedForGoodError(step, reason, message) from err
                attempts += 1
                await self._park(step, reason, message, attempts, retry_state)
                release = self._take_release()
                if isinstance(release, SkipInput):
                    self._record(str(self._state), note=f"skipped {step}: {release.reason} "
                                 f"(by {release.operator or 'operator'})")
                    return Skipped(reason=release.reason)
                corrected = release.corrected
                self._record(str(self._state), note=f"retry of {step} released by "
                             f"{release.operator or 'operator'} {release.note}".rstrip())

    def _has_compensations(self) -> bool:
        return False

    def _take_release(self) -> RetryInput | SkipInput:
        release, self._release = self._release, None
        assert release is not None
        return release

    async def _park(self, step: str, reason: str, message: str, attempts: int,
                    retry_state: str,
                    status: search.PostingStatus = search.PostingStatus.PARKED) -> None:
        """Wait for an operator's retry or skip (then `_take_release`), visibly."""
        self._parked = ParkedStep(flow=self.FLOW, step=step, reason=reason, message=message,
                                  attempts=attempts, retry_state=retry_state,
                                  since=workflow.now())
        self._record(str(self._state), note=f"parked at {step}: {reason}: {message[:200]}")
        workflow.logger.warning("flow parked", extra={"step": step, "reason": reason})
        measure("parkings", 1, flow=self.FLOW, reason=reason)
        self._upsert(search.POSTING_STATUS.value_set(status),
                     *search.parked(step, reason, self._parked.since))
        await self._notify_parent()
        await workflow.wait_condition(lambda: self._release is not None)
        self._parked = None
        self._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.PENDING),
                     *search.released())
        await self._notify_parent()
