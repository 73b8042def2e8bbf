"""Postings as the sandbox ERP reads them: parsing, keys and its confirmation config."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from adapters.erp.port import (
    ContractPosting,
    CreditMemoPosting,
    CustomerUpsert,
    InvoicePosting,
    JournalPosting,
    PaymentPosting,
    Posting,
    ScheduleEnd,
    SchedulePosting,
)
from canonical.errors import CashloopError
from canonical.ledger import JournalEntry

from .common import SandboxError, validation_detail

PostingKind = Literal["customer", "contract", "invoice", "credit_memo", "schedule",
                      "schedule_end", "payment", "journal"]
_POSTING: TypeAdapter[Posting] = TypeAdapter(Posting)
ENTRY_KINDS = ("invoice", "credit_memo", "payment", "journal", "reversal")


class ErpConfig(BaseModel):
    """Asynchronous confirmation: postings of `pending_kinds` stay pending for a while.

    A pending document turns posted once `confirm_delay_s` has passed since it was
    created, evaluated on read with the delay configured at that moment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirm_delay_s: float = Field(default=0.0, ge=0)
    pending_kinds: list[PostingKind] = []


def parse_posting(raw: Any) -> Posting:
    """Validate one posting; an unbalanced entry or bad field is a 422."""
    try:
        return _POSTING.validate_python(raw)
    except ValidationError as exc:
        raise SandboxError(422, "validation", validation_detail(exc)) from exc
    except CashloopError as exc:  # UnbalancedJournalError escapes pydantic as itself
        raise SandboxError(422, "unbalanced", exc.message) from exc


def legal_entity_code(p: Posting) -> str:
    """The legal entity a posting names."""
    match p:
        case CustomerUpsert():
            return p.customer.legal_entity
        case ContractPosting():
            return p.subscription.legal_entity
        case InvoicePosting():
            return p.invoice.legal_entity
        case CreditMemoPosting():
            return p.credit_memo.legal_entity
        case SchedulePosting():
            return p.schedule.legal_entity
        case PaymentPosting():
            return p.payment.legal_entity
        case JournalPosting():
            return p.entry.legal_entity
        case ScheduleEnd():
            return p.legal_entity
    raise TypeError(f"unknown posting kind {p.kind}")


def business_key(p: Posting) -> str:
    """The business id inside a posting (invoice_id, schedule_id, ...)."""
    match p:
        case CustomerUpsert():
            return p.customer.customer_id
        case ContractPosting():
            return p.subscription.subscription_id
        case InvoicePosting():
            return p.invoice.invoice_id
        case CreditMemoPosting():
            return p.credit_memo.credit_memo_id
        case SchedulePosting():
            return p.schedule.schedule_id
        case ScheduleEnd():
            return p.schedule_id
        case PaymentPosting():
            return p.payment.payment_id
    return p.entry.source_id


def entry_of(p: Posting) -> JournalEntry | None:
    """The journal entry a posting carries, if any."""
    if isinstance(p, InvoicePosting | CreditMemoPosting | PaymentPosting | JournalPosting):
        return p.entry
    return None
