"""`starter.py tax sync`: bring AvaTax in line with the books before a period is filed.

The plan is read from the ERP sandboxes' document register (what was posted, with the
documents themselves): credit memos of AvaTax-taxed invoices become ReturnInvoices, an
invoice left with no live posting (voided; reversed without a reissue) has its
transaction voided, a reversed credit memo's return is voided, and with `--commit` the
period's invoices and returns are committed. Only documents dated in the period are
looked at; a run can be repeated (each step checks AvaTax's state first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.erp.sandbox import ErpDocument
from adapters.tax.avalara import PROVIDER, avatax_client
from adapters.tax.avalara_filing import COMMITTED, VOIDED, AvaTaxFiling
from canonical.billing import CreditMemo, CreditMemoLine, Invoice
from canonical.customer import Address, CustomerAccount
from canonical.schedules import period_of
from cli.ledger import fetch_documents, netsuite_receivables
from settings import Settings, load_entities
from settings_secrets import load_secrets

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CID = "tax-sync"


def register(sub: Any) -> None:
    p = sub.add_parser("tax", help="tax filing with AvaTax")
    tsub = p.add_subparsers(dest="tax_command", required=True)
    sync = tsub.add_parser("sync", help="send a period's credit memos and voids to AvaTax "
                                        "(and commit it with --commit)")
    sync.add_argument("--period", required=True, help="YYYY-MM")
    sync.add_argument("--entity", action="append", dest="entities",
                      help="legal entity (repeatable; default: every entity)")
    sync.add_argument("--commit", action="store_true",
                      help="commit the period's invoices and returns (they are then filed)")
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.set_defaults(func=sync_command)


@dataclass(frozen=True)
class Return:
    code: str
    memo: CreditMemo
    lines: list[CreditMemoLine]
    invoice: Invoice
    ship_to: Address


@dataclass(frozen=True)
class Void:
    legal_entity: str
    code: str
    why: str


@dataclass(frozen=True)
class Commit:
    legal_entity: str
    code: str


@dataclass
class SyncPlan:
    returns: list[Return] = field(default_factory=list)
    voids: list[Void] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def sync_plan(documents: list[ErpDocument], period: str,
              entities: set[str] | None = None) -> SyncPlan:
    """What AvaTax must be told about the period's documents, from the ERP register."""
    plan = SyncPlan()
    invoices: dict[str, list[tuple[ErpDocument, Invoice]]] = defaultdict(list)
    customers: dict[str, CustomerAccount] = {}
    for doc in documents:
        if doc.kind == "invoice":
            inv = Invoice.model_validate(doc.body["invoice"])
            invoices[inv.invoice_id].append((doc, inv))
        elif doc.kind == "customer":
            cust = CustomerAccount.model_validate(doc.body["customer"])
            customers[cust.customer_id] = cust

    def wanted(entity: str, day: dt.date) -> bool:
        return period_of(day) == period and (entities is None or entity in entities)

    def live(invoice_id: str) -> Invoice | None:
        alive = [inv for doc, inv in invoices.get(invoice_id, []) if doc.status != "reversed"]
        return alive[-1] if alive else None

    def avalara(invoice_id: str) -> bool:
        return any(inv.tax is not None and inv.tax.provider == PROVIDER
                   for _, inv in invoices.get(invoice_id, []))

    for invoice_id, posted in sorted(invoices.items()):
        inv = posted[-1][1]
        if not avalara(invoice_id) or not wanted(inv.legal_entity, inv.issued_on):
            continue
        if live(invoice_id) is None:
            plan.voids.append(Void(inv.legal_entity, invoice_id, "invoice voided"))
        else:
            plan.commits.append(Commit(inv.legal_entity, invoice_id))
    memos: dict[str, list[tuple[ErpDocument, CreditMemo]]] = defaultdict(list)
    for doc in documents:
        if doc.kind == "credit_memo":
            memo = CreditMemo.model_validate(doc.body["credit_memo"])
            memos[memo.credit_memo_id].append((doc, memo))
    for posted_memos in memos.values():
        # a memo posted again after a reversal (a later generation) is one memo: its live
        # posting is returned, and only a memo with none left is voided
        alive = [m for doc, m in posted_memos if doc.status != "reversed"]
        memo = alive[-1] if alive else posted_memos[-1][1]
        if wanted(memo.legal_entity, memo.issued_on):
            _plan_memo(plan, memo, not alive, live, avalara, customers)
    return plan


def _plan_memo(plan: SyncPlan, memo: CreditMemo, reversed_: bool,
               live: Callable[[str], Invoice | None], avalara: Callable[[str], bool],
               customers: dict[str, CustomerAccount]) -> None:
    groups: dict[str, list[CreditMemoLine]] = defaultdict(list)
    for ln in memo.lines:
        target = ln.invoice_id or memo.invoice_id
        if target is not None:
            groups[target].append(ln)
    for invoice_id, lines in sorted(groups.items()):
        code = memo.credit_memo_id if len(groups) == 1 else f"{memo.credit_memo_id}-{invoice_id}"
        if not avalara(invoice_id):
            continue  # the billing system taxed it: nothing of it is in AvaTax
        if reversed_:
            plan.voids.append(Void(memo.legal_entity, code, "credit memo reversed"))
            continue
        invoice = live(invoice_id)
        customer = customers.get(memo.customer_id)
        if invoice is None or customer is None:
            plan.skipped.append(f"{code}: " + ("its invoice is voided" if invoice is None
                                               else f"no customer {memo.customer_id}"))
            continue
        ship_to = (customer.sold_to or customer.bill_to).address
        plan.returns.append(Return(code, memo, lines, invoice, ship_to))


async def run_sync(filing: AvaTaxFiling, plan: SyncPlan, *, commit: bool) -> list[str]:
    """Carry the plan out; what was done, one line per document."""
    done: list[str] = []
    for r in plan.returns:
        found = await filing.transaction(r.memo.legal_entity, r.code, correlation_id=CID)
        if found is not None and found.get("status") in (COMMITTED, VOIDED):
            done.append(f"return {r.code}: already {found['status'].lower()}")
            continue
        await filing.file_return(r.memo, r.lines, code=r.code, invoice=r.invoice,
                                 ship_to=r.ship_to, commit=commit, correlation_id=CID)
        done.append(f"return {r.code} of {r.invoice.invoice_id}: filed"
                    + (" and committed" if commit else " (saved)"))
    for v in plan.voids:
        found = await filing.transaction(v.legal_entity, v.code, correlation_id=CID)
        if found is None or found.get("status") == VOIDED:
            continue
        await filing.void(v.legal_entity, v.code, correlation_id=CID)
        done.append(f"void {v.code}: {v.why}")
    for c in plan.commits if commit else []:
        found = await filing.transaction(c.legal_entity, c.code, correlation_id=CID)
        if found is None:
            done.append(f"commit {c.code}: AvaTax has no such transaction")
        elif found.get("status") not in (COMMITTED, VOIDED):
            await filing.commit(c.legal_entity, c.code, correlation_id=CID)
            done.append(f"commit {c.code}: committed")
    return done


def render_plan(plan: SyncPlan) -> str:
    rows = [f"return {r.code} of {r.invoice.invoice_id}: "
            f"{sum(ln.amount.amount for ln in r.lines)} net, "
            f"{sum(ln.tax_amount.amount for ln in r.lines)} tax {r.memo.currency}"
            for r in plan.returns]
    rows += [f"void {v.code}: {v.why}" for v in plan.voids]
    rows += [f"commit {c.code}" for c in plan.commits]
    rows += [f"skipped {s}" for s in plan.skipped]
    return "\n".join(rows) or "nothing to send"


async def sync_command(args: argparse.Namespace, settings: Settings) -> int:
    if not _PERIOD.match(args.period):
        print(f"--period must be YYYY-MM, got {args.period!r}")
        return 2
    elsewhere, asked = netsuite_receivables(settings), set(args.entities or ())
    if elsewhere & asked:
        print(f"{', '.join(sorted(elsewhere & asked))}: invoices are in NetSuite, "
              "whose register tax sync does not read")
        return 2
    only = asked or (set(load_entities(settings.entities_file)) - elsewhere if elsewhere
                     else None)
    plan = sync_plan(await fetch_documents(settings), args.period, only)
    if elsewhere and not asked:
        print(f"not synced (invoices in NetSuite): {', '.join(sorted(elsewhere))}")
    print(render_plan(plan))
    if args.dry_run:
        return 0
    secrets = load_secrets()
    if settings.avatax_account_id is None or secrets.avatax_license_key is None:
        print("tax sync needs CASHLOOP_AVATAX_ACCOUNT_ID and CASHLOOP_AVATAX_LICENSE_KEY")
        return 2
    async with avatax_client(settings.avatax_account_id,
                             secrets.avatax_license_key.get_secret_value(),
                             base_url=settings.avatax_api_base) as client:
        filing = AvaTaxFiling(client, companies=settings.avatax_companies,
                              ship_from=settings.avatax_ship_from)
        for line in await run_sync(filing, plan, commit=args.commit):
            print(line)
    return 0
