"""The sandbox ERP's books: idempotent postings and receipts (reversals: erp_reversals.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, bindparam, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select, update

from adapters.erp.port import (
    ErpReceipt,
    JournalPosting,
    PaymentPosting,
    Posting,
    ReceiptStatus,
    ScheduleEnd,
    SchedulePosting,
)
from canonical.accounts import LegalEntity
from canonical.ledger import JournalEntry
from canonical.money import Money

from . import erp_books as books
from . import erp_periods
from .common import SandboxError, stable_hash
from .db import now_utc
from .erp_migrations import migrate
from .erp_models import PREFIXES, Document, Sequence
from .erp_postings import (
    ErpConfig,
    business_key,
    entry_of,
    legal_entity_code,
    parse_posting,
)
from .erp_reversals import ErpReversals
from .faults import Stats

# The posting path's statements, built once: building a statement and its cache key per
# call cost about as much as running it (docs/performance.md).
DOCS = Document.__table__
SEQS = Sequence.__table__
_DOC_PK = select(DOCS.c.id).where(DOCS.c.external_id == bindparam("external_id"))
_INVOICE_PK = select(DOCS.c.id).where(DOCS.c.kind == "invoice",
                                      DOCS.c.business_key == bindparam("invoice_id"))
_INSERT_DOC = insert(DOCS).returning(DOCS.c.id)
_NEXT_NUMBER = (update(SEQS).where(SEQS.c.prefix == bindparam("seq_prefix"))
                .values(last=SEQS.c.last + 1).returning(SEQS.c.last))


class ErpStore(ErpReversals):
    """One ERP instance's books in its own database (or PostgreSQL schema)."""

    def __init__(self, name: str, engine: Engine, entities: Mapping[str, LegalEntity],
                 stats: Stats, config: ErpConfig | None = None) -> None:
        self.name = name
        self.engine = engine
        self.entities = dict(entities)
        self.stats = stats
        self.config = config or ErpConfig()
        migrate(engine)
        self._seed_sequences()

    def _seed_sequences(self) -> None:
        for prefix in set(PREFIXES.values()):
            try:
                with self._session() as s:
                    if s.get(Sequence, prefix) is None:
                        s.add(Sequence(prefix=prefix))
                        s.commit()
            except IntegrityError:
                pass  # another process seeded it first

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- receipts -----------------------------------------------------------------------

    def status_of(self, doc: Document) -> str:
        """A document's status, a pending one counted posted once its delay has passed."""
        if doc.status == ReceiptStatus.PENDING and now_utc() >= (
                doc.created_at + dt.timedelta(seconds=self.config.confirm_delay_s)):
            return ReceiptStatus.POSTED.value
        return doc.status

    def _settle(self, s: Session, doc: Document) -> None:
        """Record a confirmation that became due (lazily, on read: no background thread);
        the caller commits."""
        status = self.status_of(doc)
        if status != doc.status:
            doc.status = status
            s.add(doc)

    def _receipt(self, doc: Document, *, duplicate: bool = False,
                 note: str | None = None) -> ErpReceipt:
        amount = (Money(amount=doc.amount, currency=doc.currency)
                  if doc.amount is not None and doc.currency else None)
        functional = (Money(amount=doc.functional_amount, currency=doc.functional_currency)
                      if doc.functional_amount is not None and doc.functional_currency
                      else None)
        return ErpReceipt(external_id=doc.external_id, document_id=doc.document_id,
                          status=ReceiptStatus(doc.status), duplicate=duplicate,
                          erp=self.name, note=note, amount=amount,
                          functional_amount=functional, posted_period=doc.posted_period)

    @staticmethod
    def _doc(s: Session, external_id: str) -> Document | None:
        """The document of an external id: a Core lookup of the key (on the posting path
        the answer is almost always "none"), the ORM only for a document that exists."""
        pk = s.connection().execute(_DOC_PK, {"external_id": external_id}).scalar()
        return None if pk is None else s.get(Document, pk)

    def receipt(self, external_id: str) -> ErpReceipt:
        """The current receipt of a document; 404 if unknown."""
        with self._session() as s:
            doc = self._doc(s, external_id)
            if doc is None:
                raise SandboxError(404, "not_found", f"{self.name} has no {external_id}")
            self._settle(s, doc)
            s.commit()
            return self._receipt(doc)

    # --- postings -----------------------------------------------------------------------

    def post_batch(self, raws: list[Any], correlation_ids: list[str | None]
                   ) -> list[dict[str, Any]]:
        """One call's postings, each `{"receipt": ...}` or `{"error": {status, type, detail}}`.

        They share one transaction (one write lock and commit per call, not per posting);
        each runs under its own savepoint, so a refused posting leaves no trace and never
        stops the others. A failure of the call itself (a crash) commits none of them.
        """
        outcomes: list[ErpReceipt | SandboxError] = []
        created = 0
        with self._session() as s:
            for raw, cid in zip(raws, correlation_ids, strict=True):
                try:
                    receipt, new = self._post_in(s, parse_posting(raw), cid)
                except SandboxError as exc:
                    outcomes.append(exc)
                    continue
                outcomes.append(receipt)
                created += new
            s.commit()
        self.stats.incr("postings_created", created)
        return [{"error": o.body()} if isinstance(o, SandboxError)
                else {"receipt": o.model_dump(mode="json")} for o in outcomes]

    def _post_in(self, s: Session, posting: Posting, correlation_id: str | None
                 ) -> tuple[ErpReceipt, bool]:
        """Record one posting under a savepoint, idempotent by external id; True if new."""
        body = posting.model_dump(mode="json")
        digest = stable_hash(body)
        try:
            with s.begin_nested():
                existing = self._doc(s, posting.external_id)
                if existing is not None:
                    return self._repeat(s, existing, posting.kind, body, digest), False
                doc, note = self._create(s, posting, body, digest, correlation_id)
        except IntegrityError:
            pass  # a concurrent writer (PostgreSQL) committed it first; answer as a repeat
        else:
            return self._receipt(doc, note=note), True
        existing = self._doc(s, posting.external_id)
        if existing is None:
            raise SandboxError(409, "conflict", f"{posting.external_id} clashes with an "
                               "existing record under another external id")
        return self._repeat(s, existing, posting.kind, body, digest), False

    def _repeat(self, s: Session, doc: Document, kind: str, body: dict[str, Any],
                digest: str) -> ErpReceipt:
        """The answer to a posting seen before (the caller commits)."""
        if doc.body_hash != digest:
            if doc.kind == kind == "customer":
                # A customer upsert updates the master record in place.
                doc.body, doc.body_hash = body, digest
                s.add(doc)
                return self._receipt(doc, note="customer updated")
            raise SandboxError(409, "conflict",
                               f"{doc.external_id} was posted with a different body")
        self.stats.incr("duplicates")
        self._settle(s, doc)
        return self._receipt(doc, duplicate=True)

    def _entity(self, code: str) -> LegalEntity:
        entity = self.entities.get(code)
        if entity is None:
            raise SandboxError(422, "unknown_legal_entity", f"unknown legal entity {code}")
        return entity

    def _check_entry(self, entry: JournalEntry, legal_entity: str) -> None:
        """Re-validate an entry against the entity's chart (balance: canonical model)."""
        if entry.legal_entity != legal_entity:
            raise SandboxError(422, "entity_mismatch", f"entry {entry.external_id} is for "
                               f"{entry.legal_entity}, document for {legal_entity}")
        chart = self._entity(entry.legal_entity).chart
        codes = {account.code for account in chart.accounts.values()}
        unknown = sorted({ln.account for ln in entry.lines} - codes)
        if unknown:
            raise SandboxError(422, "unknown_account",
                               f"{entry.legal_entity} has no account(s) {', '.join(unknown)}")

    def _number(self, s: Session, prefix: str) -> str:
        last = s.connection().execute(_NEXT_NUMBER, {"seq_prefix": prefix}).scalar_one()
        return f"{prefix}-{last:06d}"

    def _create(self, s: Session, p: Posting, body: dict[str, Any], digest: str,
                correlation_id: str | None) -> tuple[Document, str | None]:
        code = legal_entity_code(p)
        sched = None
        if isinstance(p, ScheduleEnd):
            sched = books.find_schedule(s, p.schedule_id)
            if sched is None:
                raise SandboxError(409, "unknown_schedule", f"unknown schedule {p.schedule_id}")
            if sched.legal_entity != p.legal_entity:
                raise SandboxError(422, "entity_mismatch", f"schedule {p.schedule_id} is "
                                   f"{sched.legal_entity}'s, not {p.legal_entity}'s")
        self._entity(code)
        entry = entry_of(p)
        if entry is not None:
            self._check_entry(entry, code)
        if isinstance(p, PaymentPosting) and s.connection().execute(
                _INVOICE_PK, {"invoice_id": p.payment.invoice_id}).first() is None:
            raise SandboxError(409, "unknown_invoice",
                               f"unknown invoice inv:{p.payment.invoice_id} in {self.name}")
        # What the document row holds is settled before it is written, so it goes in as
        # one Core INSERT: the ORM's unit of work (add, flush, update) cost more than the
        # statements themselves (docs/performance.md).
        note = booked = moved_to = None
        values: dict[str, Any] = {}
        if entry is not None:
            booked, moved_to = erp_periods.relocate(s, entry)
            if moved_to is not None:
                values["posted_period"] = moved_to
                note = (f"period {entry.posting_date.isoformat()[:7]} is locked; "
                        f"posted in {moved_to}")
        elif isinstance(p, ScheduleEnd):
            assert sched is not None
            note, released, released_f = books.end_schedule(s, sched, p.end_on, p.external_id)
            values.update(amount=released, currency=sched.currency)
            if released_f is not None:
                values.update(functional_amount=released_f,
                              functional_currency=sched.functional_currency)
        pending = p.kind in self.config.pending_kinds
        values.update(
            external_id=p.external_id, kind=p.kind,
            document_id=self._number(s, PREFIXES[p.kind]),
            status=(ReceiptStatus.PENDING if pending else ReceiptStatus.POSTED).value,
            legal_entity=code, business_key=business_key(p), body=body, body_hash=digest,
            correlation_id=correlation_id, created_at=now_utc())
        pk = s.connection().execute(_INSERT_DOC, values).scalar_one()
        # Not in the session: it only answers the receipt and keys the rows below.
        doc = Document.model_construct(id=pk, **values)
        if entry is not None:
            assert booked is not None
            books.book_entry(s, doc, booked, entry.posting_date if moved_to else None)
            if isinstance(p, JournalPosting) and entry.source_type == "recognition":
                books.link_recognition(s, doc, entry)
        elif isinstance(p, SchedulePosting):
            books.open_schedule(s, doc, p.schedule)
        return doc, note
