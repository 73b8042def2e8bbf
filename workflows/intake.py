"""Intake of the subscription entity: dedup by event id, ordering by sequence, gap waits.

Kept apart from the workflow class so the ordering rules read (and test) on their own;
it only uses workflow.now(), so it is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.events import Event

from .config import FlowConfig
from .subscription_state import Finding, PendingEvent, SubscriptionSnapshot

FINDINGS_KEEP = 200
# (event, events ahead of it in this batch) -> what it waits for, or None when ready
WaitingFor = Callable[[Event, list[Event]], str | None]


class Intake:
    def __init__(self, config: FlowConfig, snap: SubscriptionSnapshot,
                 on_finding: Callable[[Finding], None] | None = None,
                 rescan_after_gap: Callable[[], bool] = lambda: True) -> None:
        self._config = config
        self._snap = snap
        # The entity records every finding in its audit trail and search attributes.
        self._on_finding = on_finding
        # Whether events behind a skipped gap go at once (the entity patches this in).
        self._rescan_after_gap = rescan_after_gap
        self._seen_order: list[str] = list(snap.seen_event_ids)
        self._seen = set(self._seen_order)
        self._new: list[Event] = []
        self._inbox: list[Event] = list(snap.inbox)
        self.last_sequence = snap.last_sequence
        self._gap_since = snap.gap_since
        self.duplicates = 0

    # --- receiving (signal handlers) ----------------------------------------------------

    def receive(self, event: Event) -> None:
        if event.event_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(event.event_id)
        self._seen_order.append(event.event_id)
        overflow = len(self._seen_order) - self._config.seen_event_ids_max
        if overflow > 0:
            for old in self._seen_order[:overflow]:
                self._seen.discard(old)
            del self._seen_order[:overflow]
        self._new.append(event)

    def has_new(self) -> bool:
        return bool(self._new)

    def absorb(self) -> None:
        self._inbox.extend(self._new)
        self._new.clear()

    # --- ordering ----------------------------------------------------------------------

    def gap_timeout(self) -> timedelta | None:
        """How long to wait for news before giving up on a sequence gap; None = no gap."""
        if self._gap_since is None:
            return None
        waited = workflow.now() - self._gap_since
        return max(timedelta(seconds=self._config.sequence_gap_wait_s) - waited,
                   timedelta(milliseconds=1))

    def buffered(self) -> list[Event]:
        """Events received and not applied yet."""
        return list(self._inbox)

    def take_ready(self, waiting_for: WaitingFor) -> list[Event]:
        """Remove and return the events that can be applied now, in order.

        Sequenced events go strictly by sequence; an unsequenced event goes as soon as
        its preconditions hold. A sequenced event that waits for a precondition holds
        back every later one, so order is never broken.
        """
        ready: list[Event] = []
        progress = True
        while progress:
            progress = False
            for event in list(self._inbox):
                if event.sequence is not None and event.sequence > self.last_sequence + 1:
                    continue
                if waiting_for(event, ready) is not None:
                    continue
                ready.append(event)
                self._inbox.remove(event)
                progress = True
                if event.sequence is not None:
                    if event.sequence <= self.last_sequence:
                        self.finding("LateEvent", event,
                                     f"sequence {event.sequence} arrived after "
                                     f"{self.last_sequence}; applied by its business keys")
                    self.last_sequence = max(self.last_sequence, event.sequence)
                break  # re-scan: this event may unblock others in front of it
            if not progress:
                # A gap whose wait is over is skipped; what was behind it may go now.
                progress = self._check_gap() and self._rescan_after_gap()
        return ready

    def _check_gap(self) -> bool:
        """Start or end a gap wait; True when the wait is over and the gap was skipped."""
        waiting = [e.sequence for e in self._inbox
                   if e.sequence is not None and e.sequence > self.last_sequence + 1]
        blocked = any(e.sequence == self.last_sequence + 1 for e in self._inbox)
        if not waiting or blocked:
            self._gap_since = None
            return False
        if self._gap_since is None:
            self._gap_since = workflow.now()
            return False
        waited = (workflow.now() - self._gap_since).total_seconds()
        if waited >= self._config.sequence_gap_wait_s:
            missing_to = min(waiting) - 1
            first = next(e for e in self._inbox if e.sequence == min(waiting))
            self.finding("SequenceGap", first,
                         f"sequences {self.last_sequence + 1}..{missing_to} never arrived "
                         f"within {self._config.sequence_gap_wait_s:.0f}s; proceeding")
            self.last_sequence = missing_to
            self._gap_since = None
            return True
        return False

    # --- reporting ---------------------------------------------------------------------

    def finding(self, kind: str, event: Event | None, detail: str) -> None:
        found = Finding(kind=kind, at=workflow.now(),
                        event_id=event.event_id if event else None, detail=detail)
        self._snap.findings.append(found)
        del self._snap.findings[:-FINDINGS_KEEP]
        workflow.logger.warning("subscription finding", extra={"kind": kind, "detail": detail})
        if self._on_finding is not None:
            self._on_finding(found)

    def pending(self, waiting_for: WaitingFor) -> list[PendingEvent]:
        result = []
        for e in self._inbox + self._new:
            reason = waiting_for(e, [])
            if e.sequence is not None and e.sequence > self.last_sequence + 1:
                reason = f"sequence {self.last_sequence + 1}"
            result.append(PendingEvent(event_id=e.event_id, event_type=e.event_type,
                                       sequence=e.sequence, waiting_for=reason or "its turn"))
        return result

    def carried(self) -> dict[str, Any]:
        """The fields of the snapshot that the intake owns, for continue-as-new."""
        return {"seen_event_ids": list(self._seen_order), "last_sequence": self.last_sequence,
                "gap_since": self._gap_since, "inbox": self._inbox + self._new}
