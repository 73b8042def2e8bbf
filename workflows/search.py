"""Search attributes that finance filters on in the Temporal UI (docs/finance-cookbook.md)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from . import versions
from .config import FlowConfig

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

T = TypeVar("T")
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


def current() -> dict[str, SearchAttributeUpdate[Any]]:
    """Our attributes this run started with (carried over by continue-as-new), by name."""
    return {pair.key.name: pair.key.value_set(pair.value)
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
# Upserts are held while the workflow runs on without waiting for the outside world
# (a chain of local activities completes in one workflow task anyway, so nobody could
# see the steps in between) and go out as one command when it next waits, or ends.
PATCH_COALESCE = "search-coalesced"
_UNSET = object()


class _Upserts:
    """One running workflow instance's upserts (replay rebuilds it identically)."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}
        self.pending: dict[str, SearchAttributeUpdate[Any]] = {}
        self.local = 0  # local activities in flight: the workflow task goes on
        self.flusher: asyncio.Task[None] | None = None


# Kept on the workflow instance, not in a module-level weak map: the flusher task's
# frames reach the instance, so a map's value would keep its own key (and every evicted
# run) alive forever.
_ATTR = "_cashloop_upserts"


def _of_instance() -> _Upserts:
    instance = workflow.instance()
    st = getattr(instance, _ATTR, None)
    if st is None:
        st = _Upserts()
        setattr(instance, _ATTR, st)
    return st


def upsert(config: FlowConfig, *updates: SearchAttributeUpdate[Any]) -> None:
    """Upsert from workflow code when the server knows the attributes."""
    if not (config.search_attributes and updates):
        return
    if not versions.patched(config, PATCH_SKIP_UNCHANGED):
        workflow.upsert_search_attributes(list(updates))
        return
    st = _of_instance()
    if versions.patched(config, PATCH_COALESCE):
        st.pending.update((u.key.name, u) for u in updates)
        if st.flusher is None:
            st.flusher = asyncio.create_task(_flush_when_waiting(st))
        return
    _send(st, updates)


def _send(st: _Upserts, updates: Iterable[SearchAttributeUpdate[Any]]) -> None:
    changed = [u for u in updates if st.last.get(u.key.name, _UNSET) != u.value]
    st.last.update((u.key.name, u.value) for u in changed)
    if changed:
        workflow.upsert_search_attributes(changed)


def flush() -> None:
    """Send what is held now (a flow's end: nothing waits after it)."""
    if not workflow.in_workflow():  # e.g. a cached run's coroutine collected at shutdown
        return
    st = getattr(workflow.instance(), _ATTR, None)
    if st is not None and st.pending:
        pending, st.pending = st.pending, {}
        _send(st, pending.values())


async def _flush_when_waiting(st: _Upserts) -> None:
    # Conditions are checked once every coroutine of the workflow is blocked; with no
    # local activity among what blocks them, the workflow task is about to complete.
    while True:
        await workflow.wait_condition(lambda: bool(st.pending) and st.local == 0)
        flush()


@contextlib.contextmanager
def local_activity() -> Iterator[None]:
    """Around a local activity: held upserts wait until it is done."""
    st = _of_instance()
    st.local += 1
    try:
        yield
    finally:
        st.local -= 1


def flushed(run: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorates a flow's run method: what is held goes out before the run ends,
    however it ends (result, failure, continue-as-new)."""
    @functools.wraps(run)
    async def wrapper(*args: Any) -> T:
        try:
            result = await run(*args)
        except (Exception, workflow.ContinueAsNewError):
            flush()
            raise
        # Cancellation (an eviction from the cache tears runs down this way) and
        # GeneratorExit are not the flow's end: nothing may be sent then.
        flush()
        return result
    return wrapper


def next_action(at: datetime | None) -> SearchAttributeUpdate[datetime]:
    return NEXT_ACTION_AT.value_set(at) if at else NEXT_ACTION_AT.value_unset()


def parked(step: str, reason: str, since: datetime) -> list[SearchAttributeUpdate[Any]]:
    """What a parked flow shows; `step` is reduced to its first word (a stable kind)."""
    return [PARKED_SINCE.value_set(since), PARKED_REASON.value_set(reason),
            PARKED_STEP.value_set(step.split(" ", 1)[0])]


def released() -> list[SearchAttributeUpdate[Any]]:
    return [PARKED_SINCE.value_unset(), PARKED_REASON.value_unset(),
            PARKED_STEP.value_unset()]
