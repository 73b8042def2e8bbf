"""docs/workflows.md shows each flow's transition table exactly as the code has it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest

from workflows import activation, amendment, cancellation, dunning, renewal, subscription_state

DOC = (Path(__file__).resolve().parents[2] / "docs" / "workflows.md").read_text()


def table(transitions: dict[StrEnum, frozenset[StrEnum]]) -> str:
    rows = ["| from | to |", "|---|---|"]
    for frm, tos in transitions.items():
        rows.append(f"| {frm} | {', '.join(sorted(str(t) for t in tos)) or '(final)'} |")
    return "\n".join(rows)


@pytest.mark.parametrize("module", [subscription_state, activation, amendment, renewal,
                                    dunning, cancellation])
def test_documented_transition_table_matches_the_code(module: object) -> None:
    assert table(module.TRANSITIONS) in DOC  # type: ignore[attr-defined]
