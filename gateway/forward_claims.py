"""Claims on the forward queue, so gateway processes sharing one store never send a row twice.

A forwarder claims the rows it is about to send: it stamps them with its owner id and a
lease (`claimed_until`). Only rows that are pending and unclaimed (or whose lease ran
out, e.g. their owner died) can be claimed, by a conditional UPDATE, so of two
forwarders racing for a row exactly one gets it. On PostgreSQL the candidate rows are
read `FOR UPDATE SKIP LOCKED`: a second forwarder skips rows the first is claiming
instead of waiting for them, and takes the next ones. A subscription stays with one
forwarder at a time: a claimer gives back a subscription of which another forwarder
holds (or may still send) an older pending row, so its events keep their order.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import cast

from sqlalchemy import ColumnElement, Engine, and_, func, or_, update
from sqlmodel import Session, col, select

from .store import ForwardItem, now_utc


def owner_id() -> str:
    """This forwarder's name on its claims (host, process, and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _free(now: dt.datetime) -> ColumnElement[bool]:
    return and_(col(ForwardItem.forwarded_at).is_(None),
                or_(col(ForwardItem.claimed_until).is_(None),
                    col(ForwardItem.claimed_until) < now))


def _ready(rows: list[ForwardItem], now: dt.datetime, max_hold_s: float) -> list[ForwardItem]:
    """Rows of subscriptions whose newest row has waited out its resequencing window.

    A subscription's rows go together once its newest row's `not_before` has passed, so
    siblings that arrive close together are sorted together; one that keeps receiving
    is sent anyway after `max_hold_s`.
    """
    newest: dict[str, dt.datetime] = {}
    oldest: dict[str, dt.datetime] = {}
    for row in rows:
        newest[row.subscription_id] = max(newest.get(row.subscription_id, row.not_before),
                                          row.not_before)
        oldest.setdefault(row.subscription_id, row.not_before)
    ready = {sub for sub in newest if newest[sub] <= now
             or (now - oldest[sub]).total_seconds() >= max_hold_s}
    return [row for row in rows if row.subscription_id in ready]


def claim(engine: Engine, owner: str, limit: int, max_hold_s: float,
          lease_s: float) -> list[ForwardItem]:
    """Claim up to `limit` ready rows, oldest first; returns the rows now owned by `owner`."""
    now = now_utc()
    with Session(engine, expire_on_commit=False) as s:  # the rows are read after commit
        query = select(ForwardItem).where(_free(now)).order_by(col(ForwardItem.id)).limit(limit)
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = [r.id for r in _ready(list(s.exec(query).all()), now, max_hold_s)
               if r.id is not None]
        if not ids:
            s.commit()
            return []
        s.execute(update(ForwardItem).where(col(ForwardItem.id).in_(ids), _free(now))
                  .values(claimed_by=owner, claimed_until=now + dt.timedelta(seconds=lease_s)))
        s.commit()
        mine = list(s.exec(select(ForwardItem).where(
            col(ForwardItem.id).in_(ids), col(ForwardItem.claimed_by) == owner,
            col(ForwardItem.forwarded_at).is_(None)).order_by(col(ForwardItem.id))).all())
        subs = {r.subscription_id for r in mine}
        # Pending rows of these subscriptions that are not ours: their forwarder (or the
        # next round) sends them first, so ours that are newer wait — also those newer
        # than a row between ours, which a concurrent claimer had locked while our select
        # skipped it (PostgreSQL's SKIP LOCKED; found by the claims test).
        # (cast: the MIN of a group's primary keys is never NULL)
        others = cast("dict[str, int]", dict(s.exec(
            select(ForwardItem.subscription_id, func.min(ForwardItem.id)).where(
                col(ForwardItem.subscription_id).in_(subs),
                col(ForwardItem.forwarded_at).is_(None),
                or_(col(ForwardItem.claimed_by).is_(None), col(ForwardItem.claimed_by) != owner))
            .group_by(col(ForwardItem.subscription_id))).all()))
        kept = [r for r in mine if r.id is not None
                and (r.subscription_id not in others or r.id < others[r.subscription_id])]
        kept_ids = {r.id for r in kept}
        _release(s, owner, [r.id for r in mine if r.id is not None and r.id not in kept_ids])
        s.commit()
        return kept


def release(engine: Engine, owner: str, ids: list[int]) -> None:
    """Give rows back unsent (a failed send, or a subscription left to another forwarder)."""
    with Session(engine) as s:
        _release(s, owner, ids)
        s.commit()


def _release(s: Session, owner: str, ids: list[int]) -> None:
    if ids:
        s.execute(update(ForwardItem).where(col(ForwardItem.id).in_(ids),
                                            col(ForwardItem.claimed_by) == owner,
                                            col(ForwardItem.forwarded_at).is_(None))
                  .values(claimed_by=None, claimed_until=None))
