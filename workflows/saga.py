"""Saga support: compensations pushed before each forward step, unwound in reverse.

A permanent failure of a saga step (Flow._step with permanent="raise") unwinds the
compensations, then the flow parks with PostingStatus=compensated. An operator's
`skip` ends the flow compensated; `retry` runs it again from the start as a new
generation, whose document ids get a `~<generation>` suffix (the first generation's
documents exist, reversed, in the ERP and cannot be posted again under the same id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from . import search
from .flow import Flow, SkipInput, Skipped, StepFailedForGoodError, failure_reason

R = TypeVar("R")
# Error kinds that mean "there is nothing to undo" (the forward step never happened).
NOTHING_TO_UNDO = (".not_found",)


class Compensated(BaseModel):
    """A saga that failed for good at `step`, was compensated, and was then skipped."""

    step: str
    reason: str
    compensations: list[str]
    skipped_reason: str


def generation_id(external_id: str, generation: int) -> str:
    """The document id of a saga generation: the first keeps the plain id."""
    return external_id if generation == 1 else f"{external_id}~{generation}"


@dataclass
class _Compensation:
    name: str
    undo: Callable[[], Awaitable[Any]]


class Compensations:
    """The compensations of the steps started so far, newest last."""

    def __init__(self) -> None:
        self._stack: list[_Compensation] = []
        self.ran: list[str] = []
        # External ids this attempt got into the ERP (its answer, or "duplicate" on a
        # retry): a posting the ERP refused is not ours to reverse, even when another
        # document holds its id.
        self.landed: set[str] = set()

    def push(self, name: str, undo: Callable[[], Awaitable[Any]],
             external_id: str | None = None) -> None:
        """Register the undo of a step *before* running the step (it may half-happen).

        With `external_id`, the undo runs only if that posting landed.
        """
        if external_id is None:
            self._stack.append(_Compensation(name, undo))
            return

        async def if_landed() -> Any:
            if external_id in self.landed:
                return await undo()
            return None

        self._stack.append(_Compensation(name, if_landed))

    def __len__(self) -> int:
        return len(self._stack)

    async def unwind(self, flow: Flow) -> list[str]:
        """Run every compensation, newest first; one that fails for good parks the flow."""
        while self._stack:
            comp = self._stack.pop()
            outcome = await flow._step(f"compensate {comp.name}",
                                       lambda _, c=comp: _undo(c))  # type: ignore[misc]
            name = comp.name if not isinstance(outcome, Skipped) else f"{comp.name} (skipped)"
            self.ran.append(name)
            flow._record(str(flow._state), note=f"compensated: {name}")
        return list(self.ran)


async def _undo(comp: _Compensation) -> None:
    try:
        await comp.undo()
    except (ActivityError, ApplicationError) as err:
        reason, _, _ = failure_reason(err)
        if not reason.endswith(NOTHING_TO_UNDO):
            raise


class SagaFlow(Flow):
    """A Flow whose steps compensate; subclasses name their two compensation states."""

    COMPENSATING: ClassVar[StrEnum]
    COMPENSATED: ClassVar[StrEnum]
    _current: Compensations | None = None

    def _has_compensations(self) -> bool:
        # A permanent failure before anything needs undoing parks at its step instead.
        return self._current is not None and len(self._current) > 0

    async def _saga(self, attempt: Callable[[Compensations, int, dict[str, Any] | None],
                                            Awaitable[R]],
                    first_generation: int = 1) -> R | Compensated:
        """Run `attempt(compensations, generation, corrected)` until it succeeds or is skipped."""
        generation, corrected = first_generation, None
        while True:
            saga = self._current = Compensations()
            try:
                return await attempt(saga, generation, corrected)
            except StepFailedForGoodError as failure:
                self._transition(self.COMPENSATING,
                                 note=f"{failure.step} failed for good: {failure.reason}")
                ran = await saga.unwind(self)
                self._transition(self.COMPENSATED, note="compensations: " + (", ".join(ran)
                                                                            or "none"))
                await self._park(failure.step, failure.reason, failure.message, generation,
                                 "NON_RETRYABLE_FAILURE", search.PostingStatus.COMPENSATED)
                release = self._take_release()
                if isinstance(release, SkipInput):
                    self._record(str(self._state), note=f"ended compensated: {release.reason} "
                                 f"(by {release.operator or 'operator'})")
                    self._upsert(search.POSTING_STATUS.value_set(
                        search.PostingStatus.COMPENSATED))
                    return Compensated(step=failure.step, reason=failure.reason,
                                       compensations=ran, skipped_reason=release.reason)
                generation, corrected = generation + 1, release.corrected
                self._record(str(self._state), note=f"generation {generation} released by "
                             f"{release.operator or 'operator'} {release.note}".rstrip())
            except BaseException:
                # Cancelled (or broken): undo what was done, then let it propagate.
                if len(saga):
                    workflow.logger.warning("saga interrupted; compensating")
                    await saga.unwind(self)
                raise
