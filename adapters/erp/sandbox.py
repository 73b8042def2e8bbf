"""The ERP port over the sandbox ERP's HTTP API, and a read-only client of its books."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from adapters.http import call, error_for
from adapters.sandbox.client import SandboxAdminClient, parse
from adapters.sandbox.erp_postings import ErpConfig
from canonical.errors import CashloopError, UnavailableError
from canonical.ledger import JournalEntry
from canonical.money import Money
from observability import metrics

from .port import ErpReceipt, OpenRevenuePeriod, PeriodLock, Posting, receipts_or_raise

SYSTEM = "erp"
# The sandbox ERP takes at most this many postings per call.
MAX_BATCH = 100


class _ItemError(BaseModel):
    status: int
    type: str
    detail: str


class _ItemResult(BaseModel):
    receipt: ErpReceipt | None = None
    error: _ItemError | None = None


class _BatchResponse(BaseModel):
    results: list[_ItemResult]


def _segment(external_id: str) -> str:
    # External ids hold ":" and may hold "/"; the server reads them as one path segment.
    return quote(external_id, safe="")


def _item_error(response: httpx.Response, external_id: str, err: _ItemError) -> CashloopError:
    """The canonical error of a failed batch item, classified like an HTTP status."""
    item = httpx.Response(err.status, request=response.request,
                          json={"detail": f"{external_id}: {err.type}: {err.detail}"})
    return error_for(item, SYSTEM)


class SandboxErpAdapter:
    """`ErpPort` for one sandbox ERP instance.

    Args:
        name: the ERP target name ("erp-legacy", "erp-cloud").
        client: an `httpx.AsyncClient` whose base_url is that instance's.
    """

    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._client = client

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        """Post in batches of up to 100; raises the error of the first failed item."""
        return receipts_or_raise(
            await self.post_each(postings, [correlation_id] * len(postings)))

    async def post_each(self, postings: list[Posting], correlation_ids: list[str]
                        ) -> list[ErpReceipt | CashloopError]:
        """Post in batches of up to 100; one outcome per posting, in order.

        A failure of a whole call (transport, 5xx, 429) raises; a refused item is
        its canonical error in the result, so one bad posting never fails the others.
        """
        outcomes: list[ErpReceipt | CashloopError] = []
        for start in range(0, len(postings), MAX_BATCH):
            chunk = postings[start:start + MAX_BATCH]
            cids = correlation_ids[start:start + MAX_BATCH]
            response = await call(
                self._client, "POST", "/v1/postings", system=SYSTEM, target=self.name,
                correlation_id=cids[0],
                json={"postings": [p.model_dump(mode="json") for p in chunk],
                      "correlation_ids": cids})
            results = parse(response, _BatchResponse, SYSTEM).results
            if len(results) != len(chunk):
                raise UnavailableError(f"{self.name} answered {len(results)} results for "
                                       f"{len(chunk)} postings", system=SYSTEM)
            for posting, item in zip(chunk, results, strict=True):
                if item.error is not None:
                    # a refused item is an ERP API error too, with its own status
                    metrics.erp_api_errors.add(1, {"erp": self.name,
                                                   "status_code": str(item.error.status)})
                    outcomes.append(_item_error(response, posting.external_id, item.error))
                elif item.receipt is None:
                    outcomes.append(UnavailableError(
                        f"{self.name} answered neither receipt nor error for "
                        f"{posting.external_id}", system=SYSTEM))
                else:
                    outcomes.append(item.receipt)
        return outcomes

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        """Post the exact reversing entry under `reversal_external_id` (idempotent)."""
        response = await call(
            self._client, "POST", f"/v1/postings/{_segment(external_id)}/reverse",
            system=SYSTEM, target=self.name, correlation_id=correlation_id,
            json={"reversal_external_id": reversal_external_id, "reason": reason})
        return parse(response, ErpReceipt, SYSTEM)

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        """Mark a contract cancelled (a repeat answers duplicate)."""
        response = await call(
            self._client, "POST", f"/v1/contracts/{_segment(external_id)}/cancel",
            system=SYSTEM, target=self.name, correlation_id=correlation_id,
            json={"reason": reason})
        return parse(response, ErpReceipt, SYSTEM)

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        """The current status of a document; NotFoundError if unknown."""
        response = await call(self._client, "GET", f"/v1/postings/{_segment(external_id)}",
                              system=SYSTEM, target=self.name,
                              correlation_id=correlation_id)
        return parse(response, ErpReceipt, SYSTEM)


    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        """Schedule periods up to `through` with revenue still to recognise."""
        response = await call(self._client, "GET", "/v1/revenue/open-periods", system=SYSTEM,
                              target=self.name, correlation_id=correlation_id,
                              params={"legal_entity": legal_entity, "through": through})
        return parse(response, _OpenPeriods, SYSTEM).periods

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        """Lock a period of an entity (a repeat answers duplicate)."""
        response = await call(
            self._client, "POST",
            f"/v1/periods/{_segment(legal_entity)}/{_segment(period)}/lock",
            system=SYSTEM, target=self.name, correlation_id=correlation_id)
        return parse(response, PeriodLock, SYSTEM)


class _OpenPeriods(BaseModel):
    periods: list[OpenRevenuePeriod]


class ErpDocument(BaseModel):
    """A document in the sandbox ERP's register, with the body it was posted with."""

    model_config = ConfigDict(frozen=True)

    external_id: str
    kind: str
    document_id: str
    status: str
    legal_entity: str | None
    business_key: str | None = None
    reversed_by: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    created_at: dt.datetime | None = None
    body: dict[str, Any]


class ErpSchedulePeriod(BaseModel):
    """One period of a schedule as the ERP holds it."""

    model_config = ConfigDict(frozen=True)

    period: str
    start: dt.date
    end: dt.date
    amount: Money
    original_amount: Money
    status: str  # open, recognised, cancelled
    ended_by: str | None = None
    recognised_entry_id: str | None = None
    recognised_document_id: str | None = None
    recognised_amount: Money | None = None
    functional_amount: Money | None = None


class ErpSchedule(BaseModel):
    """A revenue schedule as the ERP holds it (status active, ended or reversed)."""

    model_config = ConfigDict(frozen=True)

    schedule_id: str
    external_id: str
    document_id: str
    status: str
    legal_entity: str
    customer_id: str
    subscription_id: str | None
    invoice_id: str
    line_id: str
    method: str
    total: Money
    service_start: dt.date
    service_end: dt.date
    ended_on: dt.date | None
    periods: list[ErpSchedulePeriod]
    functional_currency: str | None = None
    rate: Decimal | None = None


def _money(value: str | None, currency: str) -> Money | None:
    return None if value is None else Money(amount=Decimal(value), currency=currency)


def _schedule(raw: dict[str, Any]) -> ErpSchedule:
    cur, fcur = raw["currency"], raw.get("functional_currency")
    periods = [{**p, "amount": _money(p["amount"], cur),
                "original_amount": _money(p["original_amount"], cur),
                "recognised_amount": _money(p["recognised_amount"], cur),
                "functional_amount": _money(p.get("functional_amount"), fcur or cur)}
               for p in raw["periods"]]
    fields = {k: v for k, v in raw.items() if k != "currency"}
    return ErpSchedule.model_validate({**fields, "total": _money(raw["total"], cur),
                                       "periods": periods})


# Fields the journal API adds to each entry next to the JournalEntry itself.
_ENTRY_EXTRAS = ("document_id", "status", "posting_external_id")


class SandboxErpReader(SandboxAdminClient):
    """Read-only view of a sandbox ERP's books for reports and tests, plus its admin API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, SYSTEM)

    async def journal_entries(self, legal_entity: str | None = None,
                              date_from: dt.date | None = None,
                              date_to: dt.date | None = None) -> list[JournalEntry]:
        """Every booked entry (reversals included), by posting date; `date_to` inclusive."""
        params = {k: v for k, v in {"legal_entity": legal_entity,
                                    "date_from": date_from and date_from.isoformat(),
                                    "date_to": date_to and date_to.isoformat()}.items() if v}
        body = (await self._call("GET", "/v1/journal-entries", params=params)).json()
        return [JournalEntry.model_validate({k: v for k, v in e.items()
                                             if k not in _ENTRY_EXTRAS})
                for e in body["entries"]]

    async def documents(self, kind: str | None = None,
                        legal_entity: str | None = None) -> list[ErpDocument]:
        """The document register, optionally of one kind and legal entity."""
        params = {k: v for k, v in {"kind": kind, "legal_entity": legal_entity}.items() if v}
        body = (await self._call("GET", "/v1/documents", params=params)).json()
        return [ErpDocument.model_validate(d) for d in body["documents"]]

    async def observed_documents(self) -> list[ErpDocument]:
        """The whole register through the admin path (no rate limit, not counted)."""
        body = (await self._call("GET", "/_admin/documents")).json()
        return [ErpDocument.model_validate(d) for d in body["documents"]]

    async def observed_ids(self) -> set[str]:
        """External ids of the whole register through the admin path."""
        return set((await self._call("GET", "/_admin/document_ids")).json()["ids"])

    async def schedules(self, legal_entity: str | None = None) -> list[ErpSchedule]:
        """Revenue schedules with their periods (functional amounts when foreign)."""
        params = {"legal_entity": legal_entity} if legal_entity else None
        body = (await self._call("GET", "/v1/schedules", params=params)).json()
        return [_schedule(raw) for raw in body["schedules"]]

    async def period_locks(self, legal_entity: str | None = None) -> list[dict[str, Any]]:
        """Locked periods per legal entity."""
        params = {"legal_entity": legal_entity} if legal_entity else None
        body = (await self._call("GET", "/v1/periods/locks", params=params)).json()
        return list(body["locks"])

    async def config(self) -> ErpConfig:
        """The asynchronous-confirmation config."""
        return parse(await self._call("GET", "/_admin/config"), ErpConfig, SYSTEM)

    async def set_config(self, **changes: Any) -> ErpConfig:
        """Change `confirm_delay_s` and/or `pending_kinds`."""
        return parse(await self._call("PUT", "/_admin/config", json=changes), ErpConfig, SYSTEM)
