"""`starter.py ledger ...`: reports over the ERP sandboxes' books."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import httpx

from adapters.erp.sandbox import SandboxErpReader
from canonical.accounts import LegalEntity
from canonical.ledger import JournalEntry
from canonical.reports import TrialBalance, trial_balance
from settings import ERP_TARGETS, Settings, load_entities


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="ledger reports")
    lsub = p.add_subparsers(dest="ledger_command", required=True)
    tb = lsub.add_parser("trial-balance", help="trial balance per legal entity")
    tb.add_argument("--entity", help="one legal entity (default: all)")
    tb.add_argument("--as-of", type=dt.date.fromisoformat)
    tb.set_defaults(func=trial_balance_command)


async def fetch_entries(settings: Settings) -> list[JournalEntry]:
    """Every journal entry of every ERP target."""
    entries: list[JournalEntry] = []
    for name in ERP_TARGETS:
        async with httpx.AsyncClient(base_url=settings.sandbox_url(name), timeout=30) as c:
            entries += await SandboxErpReader(c).journal_entries()
    return entries


def trial_balances(entries: list[JournalEntry], entities: dict[str, LegalEntity],
                   only: str | None = None, as_of: dt.date | None = None) -> list[TrialBalance]:
    return [trial_balance(entries, e.chart, as_of) for code, e in sorted(entities.items())
            if only in (None, code)]


def render_trial_balance(tb: TrialBalance) -> str:
    title = f"Trial balance {tb.legal_entity} ({tb.currency})"
    if tb.as_of:
        title += f" as of {tb.as_of}"
    lines = [title, f"{'account':<8} {'name':<42} {'debit':>16} {'credit':>16}"]
    for row in tb.rows:
        lines.append(f"{row.account:<8} {row.name[:42]:<42} {row.debit.amount:>16,} "
                     f"{row.credit.amount:>16,}")
    lines.append(f"{'':<8} {'TOTAL':<42} {tb.total_debit.amount:>16,} "
                 f"{tb.total_credit.amount:>16,}")
    lines.append("balanced" if tb.balanced else "NOT BALANCED")
    return "\n".join(lines)


async def trial_balance_command(args: argparse.Namespace, settings: Settings) -> int:
    entries = await fetch_entries(settings)
    tbs = trial_balances(entries, load_entities(settings.entities_file), args.entity,
                         args.as_of)
    for tb in tbs:
        print(render_trial_balance(tb) + "\n")
    return 0 if all(tb.balanced for tb in tbs) else 1
