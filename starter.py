"""The operator and upstream CLI: `python starter.py <command> ...` (see README)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, cast

from cli import close, connectors, cookbook, dlq, ledger, parked, schema, send, status, tax
from settings import Settings

COMMAND_GROUPS = (send, status, schema, ledger, close, parked, dlq, cookbook, tax,
                  connectors)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    result = args.func(args, settings)
    if inspect.isawaitable(result):  # an `async def` command's coroutine
        result = asyncio.run(cast("Coroutine[Any, Any, Any]", result))
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
