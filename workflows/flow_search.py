"""The search attributes of one flow run: remembered, and upserted whole each time.

Every upsert sends every attribute set so far, so what finance filters on
(docs/finance-cookbook.md) is complete and current after each transition. A run after
continue-as-new starts from the attributes its predecessor left. Only the number of
upsert commands matters to replay, not their content, so histories recorded when fewer
attributes were sent still replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from temporalio.common import SearchAttributeUpdate

from . import search
from .config import FlowConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

    from canonical.subscription import Subscription


class FlowSearch:
    """Mixin of Flow; `_init_search` runs in the workflow's init."""

    FLOW: ClassVar[str]
    _config: FlowConfig
    _search: dict[str, SearchAttributeUpdate[Any]]

    def _init_search(self) -> None:
        self._search = search.current()

    def _remember(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Set attributes that go out with the next upsert (the next transition's)."""
        for update in updates:
            self._search[update.key.name] = update

    def _upsert_started(self, customer_id: str, sub: Subscription, correlation_id: str,
                        *more: SearchAttributeUpdate[Any]) -> None:
        """What a subscription's flow shows from its start: whose, where, pending."""
        self._upsert(search.O2C_FLOW.value_set(self.FLOW),
                     search.CUSTOMER_ID.value_set(customer_id),
                     search.SUBSCRIPTION_ID.value_set(sub.subscription_id),
                     search.LEGAL_ENTITY.value_set(sub.legal_entity),
                     search.CORRELATION_ID.value_set(correlation_id), *more,
                     search.POSTING_STATUS.value_set(search.PostingStatus.PENDING))

    def _upsert(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Remember `updates` and upsert the whole current set (one command)."""
        self._remember(*updates)
        if updates:
            search.upsert(self._config, *self._search.values())

    def _with_documents(self, documents: list[str]) -> SearchAttributeUpdate[Sequence[str]]:
        """ErpDocumentIds with `documents` added (the newest LIST_KEEP)."""
        known = self._search.get(search.ERP_DOCUMENT_IDS.name)
        ids = list(known.value or []) if known is not None else []
        ids += [d for d in documents if d not in ids]
        return search.ERP_DOCUMENT_IDS.value_set(ids[-search.LIST_KEEP:])
