"""The sandbox ERP's reversals and contract cancellation, a part of ErpStore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, update

from adapters.erp.port import ErpReceipt, ReceiptStatus

from . import erp_books as books
from .common import SandboxError, stable_hash
from .db import now_utc
from .erp_models import PREFIXES, Document
from .erp_postings import ENTRY_KINDS

if TYPE_CHECKING:
    from .faults import Stats


class ErpReversals:
    """Reversing documents (idempotent by the reversal's id) and cancelling contracts.

    Mixed into ErpStore, whose session, lookups, numbering and receipts it uses.
    """

    name: str
    stats: Stats

    if TYPE_CHECKING:
        def _session(self) -> Session: ...
        @staticmethod
        def _doc(s: Session, external_id: str) -> Document | None: ...
        def _repeat(self, s: Session, doc: Document, kind: str, body: dict[str, Any],
                    digest: str) -> ErpReceipt: ...
        def _receipt(self, doc: Document, *, duplicate: bool = False,
                     note: str | None = None) -> ErpReceipt: ...
        def _number(self, s: Session, prefix: str) -> str: ...

    def reverse(self, external_id: str, reversal_external_id: str, reason: str,
                correlation_id: str | None = None) -> ErpReceipt:
        """Reverse a document under `reversal_external_id` (idempotent by that id)."""
        body = {"reverses": external_id}
        digest = stable_hash(body)
        with self._session() as s:
            existing = self._doc(s, reversal_external_id)
            if existing is not None:
                receipt = self._repeat(s, existing, "reversal", body, digest)
                s.commit()
                return receipt
            try:
                doc = self._create_reversal(s, external_id, reversal_external_id, reason,
                                            body, digest, correlation_id)
                s.commit()
            except IntegrityError:
                s.rollback()
            else:
                self.stats.incr("postings_created")
                return self._receipt(doc)
        with self._session() as s:
            existing = self._doc(s, reversal_external_id)
            if existing is None:
                raise SandboxError(409, "conflict", f"{reversal_external_id} clashes")
            receipt = self._repeat(s, existing, "reversal", body, digest)
            s.commit()
            return receipt

    def _create_reversal(self, s: Session, external_id: str, reversal_id: str, reason: str,
                         body: dict[str, Any], digest: str,
                         correlation_id: str | None) -> Document:
        orig = self._doc(s, external_id)
        if orig is None:
            raise SandboxError(404, "not_found", f"{self.name} has no {external_id}")
        if orig.kind in ("customer", "contract"):
            raise SandboxError(409, "not_reversible", f"a {orig.kind} cannot be reversed"
                               + (" (cancel the contract instead)" if orig.kind == "contract"
                                  else ""))
        entry = books.load_entry(s, orig) if orig.kind in ENTRY_KINDS else None
        if orig.kind == "reversal" and entry is None:
            raise SandboxError(409, "not_reversible", f"{external_id} has no journal entry")
        # Conditional update: of two concurrent reversals of one document only one wins.
        won = s.exec(update(Document)
                     .where(col(Document.id) == orig.id, col(Document.reversed_by).is_(None))
                     .values(status=ReceiptStatus.REVERSED.value, reversed_by=reversal_id,
                             reason=reason).returning(col(Document.id))).first()
        if won is None:
            raise SandboxError(409, "already_reversed",
                               f"{external_id} is already reversed by {orig.reversed_by}")
        prefix = PREFIXES["reversal" if entry is not None else "reversal_nojournal"]
        doc = Document(
            external_id=reversal_id, kind="reversal", document_id=self._number(s, prefix),
            status=ReceiptStatus.POSTED.value, legal_entity=orig.legal_entity,
            business_key=external_id, body=body, body_hash=digest, reason=reason,
            correlation_id=correlation_id, created_at=now_utc(),
        )
        s.add(doc)
        s.flush()
        if entry is not None:
            books.book_entry(s, doc, books.reversing_entry(entry, reversal_id, reason,
                                                           external_id))
            if entry.source_type == "recognition":
                books.unlink_recognition(s, orig.external_id)
        elif orig.kind in ("schedule", "schedule_end"):
            sched = books.find_schedule(s, orig.business_key or "")
            if sched is not None and orig.kind == "schedule":
                books.cancel_schedule(s, sched, reversal_id)
            elif sched is not None:
                books.restore_schedule(s, sched, orig.external_id)
        return doc

    def cancel_contract(self, external_id: str, reason: str) -> ErpReceipt:
        """Mark a contract cancelled; cancelling it again is a duplicate."""
        with self._session() as s:
            doc = self._doc(s, external_id)
            if doc is None:
                raise SandboxError(404, "not_found", f"{self.name} has no {external_id}")
            if doc.kind != "contract":
                raise SandboxError(409, "not_a_contract", f"{external_id} is a {doc.kind}")
            if doc.status == ReceiptStatus.CANCELLED:
                return self._receipt(doc, duplicate=True)
            doc.status, doc.reason = ReceiptStatus.CANCELLED.value, reason
            s.add(doc)
            s.commit()
            return self._receipt(doc)
