"""The ERP port over NetSuite's REST web services: customer master and receivables.

Each document is created with its external id, which NetSuite keeps unique per record
type: a retry, a duplicated event or a concurrent create is refused, looked up by that id
(`GET .../eid:{id}`) and answered `duplicate` instead of posting twice — one request for a
new document, the lookup only when it was there already. Journals dated in a period
NetSuite has locked for receivables (A/R locked, all locked or closed) move to the first
day of the first open period, as the sandbox ERP does, and say so in the receipt. Revenue
schedules are not kept in NetSuite by this connector: route the revenue domain to another
ERP target (config/routing.toml; the worker refuses a table that sends it here).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from adapters.http import call
from canonical.errors import (
    CashloopError,
    InvalidDataError,
    NotFoundError,
    PermanentError,
    RejectedError,
    UnavailableError,
)
from canonical.schedules import first_open_day

from .netsuite_records import (
    CONTRACT_REASON,
    CONTRACT_STATUS,
    REVERSED_BY,
    SYSTEM,
    NetSuiteBooks,
    contract_body,
    customer_body,
    journal_body,
    json_body,
    mirror_body,
    ns_external_id,
    parse_body,
)
from .port import (
    ContractPosting,
    CreditMemoPosting,
    CustomerUpsert,
    ErpReceipt,
    InvoicePosting,
    JournalPosting,
    OpenRevenuePeriod,
    PaymentPosting,
    PeriodLock,
    Posting,
    ReceiptStatus,
    receipts_or_raise,
)
from .routing import Domain

REST = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
JOURNAL = "journalEntry"
CUSTOMER = "customer"
# NetSuite's monthly accounting periods and their locks, read once per batch of postings.
PERIODS_QUERY = ("SELECT TO_CHAR(startdate, 'YYYY-MM') AS period, arlocked, alllocked, closed "
                 "FROM accountingperiod WHERE isyear = 'F' AND isquarter = 'F' "
                 "AND isadjust = 'F'")
_JSON = {"Content-Type": "application/json"}


def _location_id(response: httpx.Response) -> str:
    location: str = response.headers.get("Location", "")
    internal = location.rstrip("/").rsplit("/", 1)[-1]
    if not internal:
        raise UnavailableError(f"NetSuite created {response.request.url.path} without a "
                               "Location", system=SYSTEM)
    return internal


class NetSuiteErpAdapter:
    """`ErpPort` for one NetSuite account (customer master and receivables domains).

    Args:
        name: the ERP target name in config/routing.toml ("netsuite").
        client: from `netsuite_auth.netsuite_client` (the account's host, TBA signing).
        books: the account's subsidiary, account and currency ids.
    """

    domains = frozenset({Domain.CUSTOMER_MASTER, Domain.RECEIVABLES})

    def __init__(self, name: str, client: httpx.AsyncClient, books: NetSuiteBooks) -> None:
        self.name = name
        self._client = client
        self._books = books
        self._customers: dict[str, str] = {}  # Cashloop customer id -> internal id

    # --- the port -----------------------------------------------------------------------

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        return receipts_or_raise(
            await self.post_each(postings, [correlation_id] * len(postings)))

    async def post_each(self, postings: list[Posting], correlation_ids: list[str]
                        ) -> list[ErpReceipt | CashloopError]:
        """One outcome per posting, in order. Each posting is a request of its own, so a
        failure — a refusal, or a 429/5xx/timeout its caller retries — is that posting's
        outcome alone: the others of the batch are not sent again for it."""
        outcomes: list[ErpReceipt | CashloopError] = []
        locked: set[str] | None = None
        if any(isinstance(p, InvoicePosting | CreditMemoPosting | PaymentPosting
                          | JournalPosting) for p in postings):
            locked = await self._locked_periods(correlation_ids[0])  # raises for the batch
        for posting, cid in zip(postings, correlation_ids, strict=True):
            try:
                if isinstance(posting, InvoicePosting | CreditMemoPosting | PaymentPosting
                              | JournalPosting):
                    assert locked is not None
                    outcomes.append(await self._post_journal(posting, locked, cid))
                elif isinstance(posting, CustomerUpsert):
                    outcomes.append(await self._upsert_customer(posting, cid))
                elif isinstance(posting, ContractPosting):
                    outcomes.append(await self._post_contract(posting, cid))
                else:
                    raise InvalidDataError(
                        f"{self.name}: a {posting.kind} posting ({posting.external_id}) is "
                        "revenue domain, which the NetSuite connector does not keep: route "
                        "the entity's revenue to another ERP target", system=SYSTEM)
            except CashloopError as exc:
                outcomes.append(exc)
        return outcomes

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        """Post the mirror of a journal under `reversal_external_id` and mark the original."""
        cid = correlation_id
        original = await self._get(JOURNAL, external_id, cid, lines=True)
        if original is None:
            raise NotFoundError(f"{self.name} has no journal {external_id}", system=SYSTEM)
        marked = original.get(REVERSED_BY)
        if marked and marked != reversal_external_id:
            raise RejectedError(f"{external_id} is already reversed by {marked}",
                                system=SYSTEM)
        day, moved = first_open_day(dt.date.fromisoformat(str(original["tranDate"])),
                                    await self._locked_periods(cid))
        body = mirror_body(original, external_id=reversal_external_id, tran_date=day,
                           memo=f"Reversal of {external_id}: {reason}".strip(),
                           reverses=external_id)
        created, existing = await self._create(JOURNAL, reversal_external_id, body, cid)
        await self._mark_reversed(original, reversal_external_id, cid)
        if existing is not None:  # reversed before (a repeat, or a concurrent reversal)
            return self._receipt(reversal_external_id, existing, duplicate=True)
        return ErpReceipt(external_id=reversal_external_id, document_id=f"{JOURNAL}/{created}",
                          status=ReceiptStatus.POSTED, erp=self.name, posted_period=moved)

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        record = self._books.contract_record
        found = await self._get(record, external_id, correlation_id)
        if found is None:
            raise NotFoundError(f"{self.name} has no contract {external_id}", system=SYSTEM)
        if found.get(CONTRACT_STATUS) == "cancelled":
            return self._contract_receipt(external_id, found, duplicate=True)
        await self._call("PATCH", f"{REST}/{record}/{found['id']}", correlation_id,
                         body={CONTRACT_STATUS: "cancelled", CONTRACT_REASON: reason[:999]})
        return self._contract_receipt(external_id, {**found, CONTRACT_STATUS: "cancelled"})

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        if external_id.startswith(self._books.customer_prefix):
            found = await self._get(CUSTOMER, external_id, correlation_id)
            if found is not None:
                return self._customer_receipt(external_id, found)
        elif external_id.startswith("ctr:"):
            found = await self._get(self._books.contract_record, external_id, correlation_id)
            if found is not None:
                return self._contract_receipt(external_id, found)
        else:
            found = await self._get(JOURNAL, external_id, correlation_id)
            if found is not None:
                return self._receipt(external_id, found)
        raise NotFoundError(f"{self.name} has no {external_id}", system=SYSTEM)

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        raise InvalidDataError(f"{self.name} keeps no revenue schedules (NetSuite connector): "
                               f"route {legal_entity}'s revenue to another ERP target",
                               system=SYSTEM)

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        """Confirms a period NetSuite has locked; Cashloop does not close NetSuite's periods
        (its Period Close Checklist does), so an open one parks the close for an operator."""
        if period in await self._locked_periods(correlation_id):
            return PeriodLock(legal_entity=legal_entity, period=period, erp=self.name,
                              locked_at=dt.datetime.now(dt.UTC), duplicate=True)
        raise InvalidDataError(
            f"{period} is open in NetSuite: lock its A/R there (Period Close Checklist), "
            "then release this step", system=SYSTEM)

    # --- postings -----------------------------------------------------------------------

    async def _post_journal(self, posting: InvoicePosting | CreditMemoPosting
                            | PaymentPosting | JournalPosting, locked: set[str],
                            cid: str) -> ErpReceipt:
        ext = posting.external_id
        entry = posting.entry
        customers = {c: await self._customer_id(c, cid)
                     for c in {ln.customer_id for ln in entry.lines if ln.customer_id}}
        day, moved = first_open_day(entry.posting_date, locked)
        invoice, due = _receivable_link(posting)
        body = journal_body(entry, self._books, customers, external_id=ext, tran_date=day,
                            invoice=invoice, due=due)
        created, existing = await self._create(JOURNAL, ext, body, cid)
        if existing is not None:  # posted before (a repeat, or a concurrent posting)
            return self._receipt(ext, existing, duplicate=True)
        return ErpReceipt(external_id=ext, document_id=f"{JOURNAL}/{created}",
                          status=ReceiptStatus.POSTED, erp=self.name, posted_period=moved)

    async def _upsert_customer(self, posting: CustomerUpsert, cid: str) -> ErpReceipt:
        """Create or update (the customer's name or email may have changed since)."""
        ext = posting.external_id
        found = await self._get(CUSTOMER, ext, cid)
        body = customer_body(posting.customer, self._books)
        response = await self._call("PUT", f"{REST}/{CUSTOMER}/eid:{ns_external_id(ext)}",
                                    cid, body=body)
        internal = found["id"] if found is not None else _location_id(response)
        self._customers[posting.customer.customer_id] = str(internal)
        return ErpReceipt(external_id=ext, document_id=f"{CUSTOMER}/{internal}",
                          status=ReceiptStatus.POSTED, erp=self.name,
                          duplicate=found is not None)

    async def _post_contract(self, posting: ContractPosting, cid: str) -> ErpReceipt:
        ext, record = posting.external_id, self._books.contract_record
        created, existing = await self._create(record, ext,
                                               contract_body(posting.subscription, ext), cid)
        if existing is not None:  # posted before (a repeat, or a concurrent posting)
            return self._contract_receipt(ext, existing, duplicate=True)
        return ErpReceipt(external_id=ext, document_id=f"{record}/{created}",
                          status=ReceiptStatus.POSTED, erp=self.name)

    async def _customer_id(self, customer_id: str, cid: str) -> str:
        if customer_id not in self._customers:
            ext = f"{self._books.customer_prefix}{customer_id}"
            found = await self._get(CUSTOMER, ext, cid)
            if found is None:
                raise InvalidDataError(f"{self.name} has no customer {ext}: its receivables "
                                       "need the customer in NetSuite first", system=SYSTEM)
            self._customers[customer_id] = str(found["id"])
        return self._customers[customer_id]

    async def _mark_reversed(self, original: dict[str, Any], reversal_id: str,
                             cid: str) -> None:
        if original.get(REVERSED_BY) != reversal_id:
            await self._call("PATCH", f"{REST}/{JOURNAL}/{original['id']}", cid,
                             body={REVERSED_BY: reversal_id})

    # --- receipts -----------------------------------------------------------------------

    def _receipt(self, external_id: str, record: dict[str, Any], *,
                 duplicate: bool = False) -> ErpReceipt:
        reversed_by = record.get(REVERSED_BY)
        return ErpReceipt(external_id=external_id, document_id=f"{JOURNAL}/{record['id']}",
                          status=ReceiptStatus.REVERSED if reversed_by else ReceiptStatus.POSTED,
                          duplicate=duplicate, erp=self.name,
                          note=f"reversed by {reversed_by}" if reversed_by else None)

    def _contract_receipt(self, external_id: str, record: dict[str, Any], *,
                          duplicate: bool = False) -> ErpReceipt:
        cancelled = record.get(CONTRACT_STATUS) == "cancelled"
        return ErpReceipt(external_id=external_id,
                          document_id=f"{self._books.contract_record}/{record['id']}",
                          status=ReceiptStatus.CANCELLED if cancelled else ReceiptStatus.POSTED,
                          duplicate=duplicate, erp=self.name)

    def _customer_receipt(self, external_id: str, record: dict[str, Any]) -> ErpReceipt:
        return ErpReceipt(external_id=external_id, document_id=f"{CUSTOMER}/{record['id']}",
                          status=ReceiptStatus.POSTED, erp=self.name)

    # --- HTTP ---------------------------------------------------------------------------

    async def _call(self, method: str, path: str, cid: str, *,
                    body: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None,
                    answers: frozenset[int] = frozenset()) -> httpx.Response:
        return await call(self._client, method, path, system=SYSTEM, target=self.name,
                          correlation_id=cid, params=params, answers=answers,
                          content=None if body is None else json_body(body),
                          headers={**(_JSON if body is not None else {}), **(headers or {})})

    async def _get(self, record: str, external_id: str, cid: str, *,
                   lines: bool = False) -> dict[str, Any] | None:
        response = await self._call(
            "GET", f"{REST}/{record}/eid:{ns_external_id(external_id)}", cid,
            params={"expandSubResources": "true"} if lines else None,
            answers=frozenset({404}))
        return None if response.status_code == 404 else parse_body(response.content)

    async def _create(self, record: str, external_id: str, body: dict[str, Any],
                      cid: str) -> tuple[str, dict[str, Any] | None]:
        """(the record's internal id, the record when it was there already): NetSuite
        refuses a second record with an external id, which is then read instead."""
        try:
            response = await self._call("POST", f"{REST}/{record}", cid, body=body)
        except PermanentError:
            found = await self._get(record, external_id, cid)
            if found is None:
                raise
            return str(found["id"]), found
        return _location_id(response), None

    async def _locked_periods(self, cid: str) -> set[str]:
        """Periods locked for receivables (A/R locked, all locked, or closed)."""
        rows = await suiteql(self._client, PERIODS_QUERY, cid, target=self.name)
        return {str(p["period"]) for p in rows
                if "T" in (p.get("arlocked"), p.get("alllocked"), p.get("closed"))}


def _receivable_link(posting: InvoicePosting | CreditMemoPosting | PaymentPosting
                     | JournalPosting) -> tuple[str | None, dt.date | None]:
    """The invoice a journal's receivable lines belong to when it is not its own source,
    and an invoice's due date: what the aging needs and a journal has no field for."""
    if isinstance(posting, InvoicePosting) and posting.invoice is not None:
        return None, posting.invoice.due_on
    if isinstance(posting, PaymentPosting):
        return posting.payment.invoice_id, None
    if isinstance(posting, CreditMemoPosting):
        return posting.credit_memo.invoice_id, None
    return None, None


async def suiteql(client: httpx.AsyncClient, query: str, cid: str, *,
                  target: str | None = None) -> list[dict[str, Any]]:
    """Every row of a SuiteQL query, page by page."""
    rows: list[dict[str, Any]] = []
    while True:
        items, more = await suiteql_page(client, query, cid, offset=len(rows), target=target)
        rows += items
        if not more or not items:
            return rows


async def suiteql_page(client: httpx.AsyncClient, query: str, cid: str, *, offset: int = 0,
                       limit: int = 1000, target: str | None = None
                       ) -> tuple[list[dict[str, Any]], bool]:
    """One page of a SuiteQL query's rows, and whether more follow."""
    response = await call(client, "POST", SUITEQL, system=SYSTEM, target=target,
                          correlation_id=cid, params={"limit": limit, "offset": offset},
                          content=json_body({"q": query}),
                          headers={**_JSON, "Prefer": "transient"})
    page = parse_body(response.content)
    items: list[dict[str, Any]] = page.get("items", [])
    return items, bool(page.get("hasMore")) and bool(items)
