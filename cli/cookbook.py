"""The finance cookbook's queries: one place for docs/finance-cookbook.md, the tests and
`starter.py find`.

Each recipe is a Temporal visibility query over Cashloop's search attributes
(workflows/search.py), usable as is in the Temporal UI's search box and in
`temporal workflow list --query`. Placeholders in braces are filled in by `find` (and
by hand in the UI): {today} (a UTC date, YYYY-MM-DD), {before} (an RFC 3339 time),
{customer_id}, {correlation_id}, {invoice_id}. The test suite runs every recipe against
demo data on a real dev server (tests/integration/test_finance_cookbook.py) and checks
that the cookbook shows each query verbatim.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import string
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from settings import Settings
from temporal_client import connect


@dataclass(frozen=True)
class Recipe:
    name: str
    question: str
    query: str
    # The search attributes (UI columns) that answer the question, beyond the workflow id.
    columns: tuple[str, ...]


RECIPES: tuple[Recipe, ...] = (
    Recipe("posted-today", "Which invoices posted today?",
           "InvoicePostedAt >= '{today}T00:00:00Z'",
           ("InvoiceIds", "InvoicePostedAt", "CustomerId", "LegalEntity", "ErpDocumentIds")),
    Recipe("payments-not-applied", "Which payments failed to apply?",
           "ParkedStep = 'apply_payment' AND ExecutionStatus = 'Running'",
           ("ParkedReason", "ParkedSince", "CustomerId", "InvoiceIds", "AmountDue")),
    Recipe("payments-failed", "Which customer payments failed, and what came of them?",
           "O2CFlow = 'dunning'",
           ("O2CState", "InvoiceIds", "AmountDue", "NextActionAt", "CustomerId")),
    Recipe("renewals-awaiting-erp", "Which renewals are awaiting ERP confirmation?",
           "O2CFlow = 'renewal' AND PostingStatus = 'awaiting_erp' "
           "AND ExecutionStatus = 'Running'",
           ("InvoiceIds", "InvoicePostedAt", "ErpDocumentIds", "CustomerId", "LegalEntity")),
    Recipe("parked", "What is parked, since when and why?",
           "ParkedSince IS NOT NULL AND ExecutionStatus = 'Running'",
           ("ParkedSince", "ParkedReason", "ParkedStep", "O2CFlow", "CustomerId")),
    Recipe("parked-before", "What has been parked since before a given time?",
           "ParkedSince < '{before}' AND ExecutionStatus = 'Running'",
           ("ParkedSince", "ParkedReason", "ParkedStep", "O2CFlow", "CustomerId")),
    Recipe("customer", "Everything for one customer",
           "CustomerId = '{customer_id}'",
           ("O2CFlow", "O2CState", "PostingStatus", "InvoiceIds", "AmountDue")),
    Recipe("correlation", "Everything for one correlation id",
           "CorrelationId = '{correlation_id}'",
           ("O2CFlow", "O2CState", "PostingStatus", "CustomerId", "ErpDocumentIds")),
    Recipe("invoice", "Everything that touched one invoice",
           "InvoiceIds = '{invoice_id}'",
           ("O2CFlow", "O2CState", "PostingStatus", "AmountDue", "ErpDocumentIds")),
)
BY_NAME = {r.name: r for r in RECIPES}
# The flows parked right now (the worker's cashloop_parked_items gauge counts these).
PARKED_NOW = BY_NAME["parked"].query


def placeholders(recipe: Recipe) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(recipe.query) if f]


def query_for(name: str, **values: str) -> str:
    """The recipe's query with its placeholders filled ({today} defaults to today, UTC)."""
    recipe = BY_NAME[name]
    values = {"today": dt.datetime.now(dt.UTC).date().isoformat(), **values}
    missing = [p for p in placeholders(recipe) if p not in values]
    if missing:
        raise ValueError(f"recipe {name} needs {', '.join(missing)}")
    # A quote inside a value would end the string literal early: escape it.
    return recipe.query.format(**{k: v.replace("'", "\\'") for k, v in values.items()})


@dataclass
class Found:
    workflow_id: str
    workflow_type: str
    status: str
    attributes: dict[str, Any]


async def find(client: Client, name: str, *, scope: str | None = None,
               **values: str) -> list[Found]:
    """Run a recipe; every matching workflow with its Cashloop search attributes.

    `scope` is ANDed to the recipe (tests narrow it to their own task queue).
    """
    query = query_for(name, **values)
    found = []
    async for wf in client.list_workflows(f"({query}) AND ({scope})" if scope else query):
        attrs = {pair.key.name: pair.value for pair in wf.typed_search_attributes}
        found.append(Found(wf.id, wf.workflow_type, wf.status.name if wf.status else "?",
                           attrs))
    return sorted(found, key=lambda f: f.workflow_id)


def register(sub: Any) -> None:
    p = sub.add_parser("find", help="run a finance cookbook query (docs/finance-cookbook.md)")
    p.add_argument("recipe", choices=sorted(BY_NAME))
    for field in ("today", "before", "customer_id", "correlation_id", "invoice_id"):
        p.add_argument(f"--{field.replace('_', '-')}", dest=field, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=find_command)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value[-3:])) + (" ..." if len(value) > 3 else "")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def render(recipe: Recipe, query: str, found: list[Found]) -> str:
    lines = [f"{recipe.question}  ({len(found)})", f"query: {query}"]
    for f in found:
        cols = "  ".join(f"{c}={_text(f.attributes.get(c))}" for c in recipe.columns
                         if f.attributes.get(c) is not None)
        lines.append(f"  {f.workflow_id:<44} {f.status:<10} {cols}")
    return "\n".join(lines)


async def find_command(args: argparse.Namespace, settings: Settings) -> int:
    values = {k: v for k in ("today", "before", "customer_id", "correlation_id", "invoice_id")
              if (v := getattr(args, k)) is not None}
    try:
        query = query_for(args.recipe, **values)
    except ValueError as err:
        print(err)
        return 2
    found = await find(await connect(settings), args.recipe, **values)
    if args.json:
        print(json.dumps([f.__dict__ for f in found], default=str, indent=1))
    else:
        print(render(BY_NAME[args.recipe], query, found))
    return 0
