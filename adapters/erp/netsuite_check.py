"""What `starter.py connectors check` asks NetSuite: access, and the ids Cashloop posts to.

A wrong internal id in CASHLOOP_NETSUITE_BOOKS would post to the wrong account (NetSuite
takes any id that exists): each configured account's number is compared with the code
it stands for, each subsidiary and currency looked up.
"""

from __future__ import annotations

import httpx

from canonical.errors import CashloopError

from .netsuite import PERIODS_QUERY, suiteql
from .netsuite_records import NetSuiteBooks


def _in(ids: set[str]) -> str:
    return ", ".join(sorted(ids))


async def check_netsuite(client: httpx.AsyncClient, books: NetSuiteBooks) -> list[str]:
    """Problems found (an empty list: none)."""
    problems = []
    account_ids = {i for accounts in books.accounts.values() for i in accounts.values()}
    ids = account_ids | set(books.subsidiaries.values()) | set(books.currencies.values())
    odd = sorted(i for i in ids if not i.isdigit())
    if odd:
        return [f"NetSuite: internal ids are numbers, not {', '.join(odd)}"]
    try:
        await suiteql(client, PERIODS_QUERY, "check")
        numbers = {str(r["id"]): str(r.get("acctnumber") or "") for r in await suiteql(
            client, f"SELECT id, acctnumber FROM account WHERE id IN ({_in(account_ids)})",
            "check")}
        subsidiaries = {str(r["id"]) for r in await suiteql(
            client, f"SELECT id, name FROM subsidiary WHERE id IN "
                    f"({_in(set(books.subsidiaries.values()))})", "check")}
        symbols = {str(r["id"]): str(r.get("symbol") or "") for r in await suiteql(
            client, f"SELECT id, symbol FROM currency WHERE id IN "
                    f"({_in(set(books.currencies.values()))})", "check")}
    except CashloopError as exc:
        return [f"NetSuite: {exc.message}"]
    for entity, accounts in sorted(books.accounts.items()):
        for code, internal in sorted(accounts.items()):
            if internal not in numbers:
                problems.append(f"NetSuite: {entity} account {code} -> {internal}: no such "
                                "account")
            elif numbers[internal] != code:
                problems.append(f"NetSuite: {entity} account {code} -> {internal}, which is "
                                f"account number {numbers[internal] or '(none)'}")
    for entity, internal in sorted(books.subsidiaries.items()):
        if internal not in subsidiaries:
            problems.append(f"NetSuite: {entity} -> subsidiary {internal}: no such subsidiary")
    for code, internal in sorted(books.currencies.items()):
        if symbols.get(internal) != code:
            problems.append(f"NetSuite: currency {code} -> {internal}, which is "
                            f"{symbols.get(internal) or 'no currency'}")
    return problems
