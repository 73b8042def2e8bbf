"""`starter.py schema export DIR`: JSON Schema of every event type and version."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from canonical.schemas import export_json_schemas
from settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="event schemas")
    ssub = p.add_subparsers(dest="schema_command", required=True)
    export = ssub.add_parser("export", help="write JSON Schema files for every event version")
    export.add_argument("directory", type=Path)
    export.set_defaults(func=export_command)


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    for path in export_json_schemas(args.directory):
        print(path)
    return 0
