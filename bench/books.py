"""The books of a run and the comparison of two runs of the same stream (bench/chaos.py).

The books are what finance would check: every ERP document by its idempotency key (the
external id) with the journal entries booked for it, every revenue schedule with its
periods, and the trial balance of every legal entity. Everything the ERP numbers or
stamps by itself (document numbers, creation times, correlation ids) is left out, so two
runs of the same stream have equal books however their work was ordered or retried.

`compare` sorts the differences into
* lost: in the clean run's books, not in the other's;
* doubled: in the other's books only (a posting the clean run never made), or booked
  more often for one document;
* mismatched: present in both with other content, and trial balance rows that differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from canonical.accounts import LegalEntity
from canonical.ledger import JournalEntry
from canonical.reports import trial_balance
from settings import ERP_TARGETS, Settings

# Stamped by the ERP (numbers, times), by the tax engine (when it calculated) or carried
# for tracing: not part of the books.
VOLATILE = frozenset({"document_id", "created_at", "correlation_id", "recognised_entry_id",
                      "recognised_document_id", "calculated_at"})
# What the journal API adds next to each entry.
ENTRY_EXTRAS = ("document_id", "status", "posting_external_id")


def normalized(value: Any) -> Any:
    """`value` without VOLATILE keys, at any depth."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


@dataclass
class Books:
    """Documents and schedules keyed "erp/external id" and "erp/schedule id"; trial
    balances as entity -> account -> [debit, credit] (functional currency, strings)."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    trial_balances: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Books:
        return cls(**json.loads(text))


def books_of(raw: dict[str, dict[str, list[dict[str, Any]]]],
             entities: dict[str, LegalEntity]) -> Books:
    """Books from each ERP's raw `documents`, `entries` and `schedules` (the read API)."""
    books = Books()
    entries: list[JournalEntry] = []
    for erp, parts in sorted(raw.items()):
        booked: dict[str, list[dict[str, Any]]] = {}
        for e in parts["entries"]:
            booked.setdefault(e["posting_external_id"], []).append(
                normalized({k: v for k, v in e.items() if k not in ENTRY_EXTRAS}))
            entries.append(JournalEntry.model_validate(
                {k: v for k, v in e.items() if k not in ENTRY_EXTRAS}))
        for d in parts["documents"]:
            record = normalized({k: v for k, v in d.items() if k != "external_id"})
            record["entries"] = sorted(booked.get(d["external_id"], []),
                                       key=lambda x: json.dumps(x, sort_keys=True))
            key = f"{erp}/{d['external_id']}"
            if key in books.documents:  # the register is unique by key: never expected
                record["entries"] += books.documents[key]["entries"]
            books.documents[key] = record
        for s in parts["schedules"]:
            books.schedules[f"{erp}/{s['schedule_id']}"] = normalized(s)
    for code, entity in sorted(entities.items()):
        tb = trial_balance(entries, entity.chart)
        if tb.rows:
            books.trial_balances[code] = {r.account: [str(r.debit.amount), str(r.credit.amount)]
                                          for r in tb.rows}
    return books


async def fetch_books(settings: Settings, entities: dict[str, LegalEntity]) -> Books:
    """The books of every ERP sandbox of a running stack."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=300) as c:
            raw[name] = {
                "documents": (await c.get("/v1/documents")).raise_for_status()
                .json()["documents"],
                "entries": (await c.get("/v1/journal-entries")).raise_for_status()
                .json()["entries"],
                "schedules": (await c.get("/v1/schedules")).raise_for_status()
                .json()["schedules"]}
    return books_of(raw, entities)


@dataclass(frozen=True)
class Difference:
    key: str
    detail: str


@dataclass
class BooksDiff:
    lost: list[Difference] = field(default_factory=list)
    doubled: list[Difference] = field(default_factory=list)
    mismatched: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.mismatched)

    def summary(self) -> str:
        return (f"lost={len(self.lost)} doubled={len(self.doubled)} "
                f"mismatched={len(self.mismatched)}")

    def listing(self, limit: int = 50) -> list[str]:
        """One line per difference (the first `limit` of each kind)."""
        lines = []
        for kind in ("lost", "doubled", "mismatched"):
            found: list[Difference] = getattr(self, kind)
            lines += [f"{kind}: {d.key}: {d.detail}" for d in found[:limit]]
            if len(found) > limit:
                lines.append(f"{kind}: ... and {len(found) - limit} more")
        return lines

    def as_json(self, limit: int = 200) -> dict[str, Any]:
        return {kind: [asdict(d) for d in getattr(self, kind)[:limit]]
                for kind in ("lost", "doubled", "mismatched")} | {
            "counts": {k: len(getattr(self, k)) for k in ("lost", "doubled", "mismatched")}}


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The path of the first place where `a` and `b` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys()):
            found = first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path or '<value>'}: clean {a!r}, other {b!r}"[:300]


def _describe(record: dict[str, Any]) -> str:
    return (f"{record.get('kind', 'schedule')} of {record.get('legal_entity')}"
            f" ({record.get('business_key') or record.get('invoice_id') or '-'})")


def compare(clean: Books, other: Books) -> BooksDiff:
    """What `other` has lost, doubled or changed against `clean`."""
    diff = BooksDiff()
    for what, a, b in (("document", clean.documents, other.documents),
                       ("schedule", clean.schedules, other.schedules)):
        for key in sorted(a.keys() - b.keys()):
            diff.lost.append(Difference(key, f"{what} missing: {_describe(a[key])}"))
        for key in sorted(b.keys() - a.keys()):
            diff.doubled.append(Difference(key, f"{what} the clean run never posted: "
                                                f"{_describe(b[key])}"))
        for key in sorted(a.keys() & b.keys()):
            booked_a, booked_b = len(a[key].get("entries", [])), len(b[key].get("entries", []))
            if booked_b > booked_a:
                diff.doubled.append(Difference(key, f"booked {booked_b} times, "
                                                    f"clean run {booked_a}"))
            elif (found := first_difference(a[key], b[key])) is not None:
                diff.mismatched.append(Difference(key, found))
    for entity in sorted(clean.trial_balances.keys() | other.trial_balances.keys()):
        ta, tb = clean.trial_balances.get(entity, {}), other.trial_balances.get(entity, {})
        for account in sorted(ta.keys() | tb.keys()):
            ra, rb = ta.get(account, ["0", "0"]), tb.get(account, ["0", "0"])
            if [Decimal(x) for x in ra] != [Decimal(x) for x in rb]:
                diff.mismatched.append(Difference(
                    f"trial balance {entity} {account}",
                    f"clean Dr {ra[0]} Cr {ra[1]}, other Dr {rb[0]} Cr {rb[1]}"))
    return diff
