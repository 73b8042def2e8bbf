"""Dead letters: what could not be accepted, kept whole with its reason, and replayed later.

Replay re-runs the *current* mapping (after a mapping fix, or once the customer map or
the routes know more) on the kept raw body and puts what now maps into the inbox; the
forwarder sends it on. A replayed item keeps its history (every attempt, its outcome).
The signature of a Stripe webhook is not checked again on replay: it was checked when
the webhook arrived (an unsigned request never becomes a dead letter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from . import inbox
from .sources.base import Mapper, MappingError
from .store import DeadLetter, now_utc


def add(engine: Engine, *, channel: str, source: str, error: MappingError, body: bytes,
        headers: dict[str, Any], mapping_version: str, source_event_id: str | None = None,
        event_type: str | None = None) -> int:
    """Keep one refused message; returns its dead-letter id."""
    reason = {"message": error.message, "errors": error.errors}
    letter = DeadLetter(channel=channel, source=source, source_event_id=source_event_id,
                        event_type=event_type, category=error.category, reason=reason,
                        body=body, headers=headers, received_at=now_utc(),
                        mapping_version=mapping_version, status="open",
                        history=[{"at": now_utc().isoformat(), "action": "received",
                                  "outcome": error.category, "reason": error.message}])
    with Session(engine) as s:
        s.add(letter)
        s.commit()
        assert letter.id is not None
        return letter.id


def find(engine: Engine, *, category: str | None = None, status: str | None = None,
         ids: Sequence[int] = (), limit: int = 1000) -> list[DeadLetter]:
    """Dead letters, oldest first, filtered by category, status and/or ids."""
    stmt = select(DeadLetter)
    if category:
        stmt = stmt.where(col(DeadLetter.category) == category)
    if status:
        stmt = stmt.where(col(DeadLetter.status) == status)
    if ids:
        stmt = stmt.where(col(DeadLetter.id).in_(list(ids)))
    with Session(engine) as s:
        return list(s.exec(stmt.order_by(col(DeadLetter.id)).limit(limit)).all())


def get(engine: Engine, dead_letter_id: int) -> DeadLetter | None:
    with Session(engine) as s:
        return s.get(DeadLetter, dead_letter_id)


@dataclass
class ReplayOutcome:
    dead_letter_id: int
    outcome: str  # replayed | duplicate | still_failing | skipped
    detail: str
    inbox_id: int | None = None
    events: int = 0


def replay(engine: Engine, mappers: Mapping[str, Mapper], letters: Sequence[DeadLetter],
           routes_for: Any) -> list[ReplayOutcome]:
    """Re-map each open letter with the current mapping; accepted ones go to the inbox.

    Args:
        routes_for: channel -> `Routes` (look-up of learnt routes).
    """
    outcomes = []
    for letter in letters:
        assert letter.id is not None
        if letter.status != "open":
            outcomes.append(ReplayOutcome(letter.id, "skipped", f"status is {letter.status}"))
            continue
        mapper = mappers.get(letter.channel)
        if mapper is None:
            outcomes.append(_record(engine, letter, "still_failing",
                                    f"no mapper for channel {letter.channel}"))
            continue
        try:
            mapped = mapper.map(letter.body, routes_for(letter.channel))
        except MappingError as err:
            outcomes.append(_record(engine, letter, "still_failing", err.message,
                                    version=mapper.mapping_version, category=err.category,
                                    reason={"message": err.message, "errors": err.errors}))
            continue
        accepted = inbox.Accepted(
            channel=letter.channel, source=letter.source, mapped=mapped,
            body=letter.body.decode("utf-8", errors="replace"), headers=letter.headers,
            mapping_version=mapper.mapping_version, dead_letter_id=letter.id)
        receipt = inbox.write(engine, [accepted])[0]
        if receipt.duplicate:
            outcomes.append(_record(engine, letter, "duplicate",
                                    "the source event is already in the inbox",
                                    version=mapper.mapping_version, status="superseded"))
            continue
        outcomes.append(_record(engine, letter, "replayed",
                                f"{len(mapped.events)} canonical event(s) queued",
                                version=mapper.mapping_version, status="replayed",
                                inbox_id=receipt.inbox_id, events=len(mapped.events)))
    return outcomes


def _record(engine: Engine, letter: DeadLetter, outcome: str, detail: str, *,
            version: str | None = None, status: str | None = None, category: str | None = None,
            reason: dict[str, Any] | None = None, inbox_id: int | None = None,
            events: int = 0) -> ReplayOutcome:
    assert letter.id is not None
    entry = {"at": now_utc().isoformat(), "action": "replay", "outcome": outcome,
             "reason": detail, "mapping_version": version or letter.mapping_version}
    with Session(engine) as s:
        row = s.get(DeadLetter, letter.id)
        assert row is not None
        row.history = [*row.history, entry]
        if status:
            row.status = status
        if category:
            row.category = category
        if reason:
            row.reason = reason
        if inbox_id is not None:
            row.inbox_id = inbox_id
        s.add(row)
        s.commit()
    return ReplayOutcome(letter.id, outcome, detail, inbox_id, events)


def as_json(letter: DeadLetter, with_body: bool = False) -> dict[str, Any]:
    """A dead letter for the CLI / API (the body only on request)."""
    data: dict[str, Any] = {
        "id": letter.id, "channel": letter.channel, "source": letter.source,
        "source_event_id": letter.source_event_id, "event_type": letter.event_type,
        "category": letter.category, "status": letter.status,
        "received_at": letter.received_at.isoformat(), "reason": letter.reason,
        "mapping_version": letter.mapping_version, "inbox_id": letter.inbox_id,
        "history": letter.history}
    if with_body:
        data["headers"] = letter.headers
        data["body"] = letter.body.decode("utf-8", errors="replace")
    return data
