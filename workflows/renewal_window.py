"""Renewals wait for their window in the entity, not in a sleeping child workflow.

RenewalFlow used to start at activation and sleep until its window (term end minus
`renewal_lead_days`). Started by the entity when the window opens instead, a renewal
costs one durable timer in the entity's history until then, rather than a workflow,
its first task and a progress signal per subscription (docs/performance.md). Until it
starts, the entity lists it as a child in state "Scheduled", waiting until the window,
so the view, NextActionAt and the finance cookbook see it as before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

from temporalio import workflow

from . import versions
from .flow import ChildProgress

if TYPE_CHECKING:
    from .subscription import SubscriptionWorkflow

PATCH_DEFERRED_RENEWAL = "renewal-started-at-window"
SCHEDULED = "Scheduled"


class RenewalWindows:
    def __init__(self, owner: SubscriptionWorkflow) -> None:
        self._o = owner
        self._timers: dict[str, asyncio.Task[None]] = {}
        self.due: list[str] = []  # renewals whose window has opened, to start now

    def scheduled(self) -> list[ChildProgress]:
        return [c for c in self._o._children.values() if c.state == SCHEDULED]

    def defer(self, child_id: str, window: dt.datetime) -> bool:
        """Hold a renewal until its window; False when it should start now."""
        if window <= workflow.now() or not versions.patched(self._o._config,
                                                             PATCH_DEFERRED_RENEWAL):
            return False
        self._o._children[child_id] = ChildProgress(
            workflow_id=child_id, flow="renewal", state=SCHEDULED, waiting_until=window)
        self._o._progress = True  # NextActionAt moves
        self._o._record(str(self._o._state), note=f"{child_id} starts at {window.isoformat()}")
        self.arm(child_id, window)
        return True

    def rearm(self) -> None:
        """After continue-as-new: the scheduled renewals' timers, again."""
        for child in self.scheduled():
            assert child.waiting_until is not None
            self.arm(child.workflow_id, child.waiting_until)

    def arm(self, child_id: str, window: dt.datetime) -> None:
        async def wait() -> None:
            left = window - workflow.now()
            if left > dt.timedelta(0):
                await workflow.sleep(left, summary="renewal window")
            self.due.append(child_id)

        self._timers[child_id] = asyncio.create_task(wait())

    def take_due(self) -> str:
        """The next renewal whose window opened; it leaves the scheduled list."""
        child_id = self.due.pop(0)
        self._o._children.pop(child_id, None)
        self._timers.pop(child_id, None)
        return child_id

    def withdraw(self, reason: str) -> None:
        """Scheduled renewals are dropped with their timers (cancelled, terminated...)."""
        for child in self.scheduled():
            self._o._children.pop(child.workflow_id)
            timer = self._timers.pop(child.workflow_id, None)
            if timer is not None:
                timer.cancel()
            self._o._progress = True
            self._o._record(str(self._o._state),
                            note=f"{child.workflow_id} not started: {reason}")
        self.due.clear()
