"""Search attributes that finance filters on in the Temporal UI (docs/finance-cookbook.md)."""

from __future__ import annotations

import weakref
from datetime import datetime
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
SUBSCRIPTION_ID = SearchAttributeKey.for_keyword("SubscriptionId")
LEGAL_ENTITY = SearchAttributeKey.for_keyword("LegalEntity")
CORRELATION_ID = SearchAttributeKey.for_keyword("CorrelationId")
O2C_FLOW = SearchAttributeKey.for_keyword("O2CFlow")
O2C_STATE = SearchAttributeKey.for_keyword("O2CState")
POSTING_STATUS = SearchAttributeKey.for_keyword("PostingStatus")
INVOICE_IDS = SearchAttributeKey.for_keyword_list("InvoiceIds")
ERP_DOCUMENT_IDS = SearchAttributeKey.for_keyword_list("ErpDocumentIds")
AMOUNT_DUE = SearchAttributeKey.for_float("AmountDue")
NEXT_ACTION_AT = SearchAttributeKey.for_datetime("NextActionAt")
# Kinds of finding a subscription has had (SequenceGap, LateEvent, IllegalEvent, ...).
FINDINGS = SearchAttributeKey.for_keyword_list("Findings")
# When this workflow last got an invoice into the ERP ("which invoices posted today":
# visibility has no "last changed" time of its own).
INVOICE_POSTED_AT = SearchAttributeKey.for_datetime("InvoicePostedAt")
# While parked: since when, why (the error type, e.g. erp.rejected) and at which step
# (its first word: apply_payment, post_invoice, validate_customer, compensate, ...).
PARKED_SINCE = SearchAttributeKey.for_datetime("ParkedSince")
PARKED_REASON = SearchAttributeKey.for_keyword("ParkedReason")
PARKED_STEP = SearchAttributeKey.for_keyword("ParkedStep")

LIST_KEEP = 50  # newest ids kept in a list attribute (the server limits their size)

ALL_KEYS = (CUSTOMER_ID, SUBSCRIPTION_ID, LEGAL_ENTITY, CORRELATION_ID, O2C_FLOW, O2C_STATE,
            POSTING_STATUS, INVOICE_IDS, ERP_DOCUMENT_IDS, AMOUNT_DUE, NEXT_ACTION_AT,
            FINDINGS, INVOICE_POSTED_AT, PARKED_SINCE, PARKED_REASON, PARKED_STEP)


class PostingStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    PARKED = "parked"
    COMPENSATED = "compensated"
    AWAITING_ERP = "awaiting_erp"


NAMES = frozenset(key.name for key in ALL_KEYS)


def current() -> dict[str, SearchAttributeUpdate]:
    """Our attributes this run started with (carried over by continue-as-new), by name."""
    return {pair.key.name: pair.key.value_set(pair.value)  # type: ignore[arg-type]
            for pair in workflow.info().typed_search_attributes if pair.key.name in NAMES}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags registering every key on a dev server."""
    type_names = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList", "DOUBLE": "Double",
                  "DATETIME": "Datetime", "TEXT": "Text", "INT": "Int", "BOOL": "Bool"}
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={type_names[key.indexed_value_type.name]}"]
    return flags


# Upserts that would not change a value are skipped: each upsert is a history event and
# a visibility write on the server, and flows refresh their attributes after every step.
PATCH_SKIP_UNCHANGED = "search-skip-unchanged"
_UNSET = object()
# What each running workflow instance last upserted (replay rebuilds it identically).
_upserted: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def upsert(enabled: bool, *updates: SearchAttributeUpdate) -> None:
    """Upsert from workflow code when the server knows the attributes."""
    if not (enabled and updates):
        return
    if workflow.patched(PATCH_SKIP_UNCHANGED):
        last = _upserted.setdefault(workflow.instance(), {})
        changed = [u for u in updates if last.get(u.key.name, _UNSET) != u.value]
        last.update((u.key.name, u.value) for u in changed)
        updates = tuple(changed)
        if not updates:
            return
    workflow.upsert_search_attributes(list(updates))


def next_action(at: datetime | None) -> SearchAttributeUpdate:
    return NEXT_ACTION_AT.value_set(at) if at else NEXT_ACTION_AT.value_unset()


def parked(step: str, reason: str, since: datetime) -> list[SearchAttributeUpdate]:
    """What a parked flow shows; `step` is reduced to its first word (a stable kind)."""
    return [PARKED_SINCE.value_set(since), PARKED_REASON.value_set(reason),
            PARKED_STEP.value_set(step.split(" ", 1)[0])]


def released() -> list[SearchAttributeUpdate]:
    return [PARKED_SINCE.value_unset(), PARKED_REASON.value_unset(),
            PARKED_STEP.value_unset()]
