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

ALL_KEYS = (CUSTOMER_ID, SUBSCRIPTION_ID, LEGAL_ENTITY, CORRELATION_ID, O2C_FLOW, O2C_STATE,
            POSTING_STATUS, INVOICE_IDS, ERP_DOCUMENT_IDS, AMOUNT_DUE, NEXT_ACTION_AT,
            FINDINGS)


class PostingStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    PARKED = "parked"
    COMPENSATED = "compensated"
    AWAITING_ERP = "awaiting_erp"


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
