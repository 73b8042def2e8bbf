"""The demo scenario (examples/demo.jsonl + demo-setup.json) under ids of its own.

Tests share one dev server for the session, so each run of the scenario renames its
companies (`acme` -> `acme<tag>`), which renames every id built from them: customers,
subscriptions, invoices, payments, events, correlation ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.erp.sandbox import SandboxErpReader
from adapters.payments.sandbox import SandboxPaymentsAdmin
from canonical.events import Event
from cli.send import read_events
from settings import PROJECT_ROOT
from tests.integration.stack import Engine

EXAMPLES = PROJECT_ROOT / "examples"
COMPANIES = ("acme", "dupont", "globex", "hooli", "initech", "muller", "tanaka", "umbrella")
_COMPANY = re.compile(r"(?<=_)(" + "|".join(COMPANIES) + r")(?=[_\"\-])")


@dataclass
class Demo:
    tag: str
    events: list[Event]
    setup: dict[str, Any]
    text: str  # the renamed JSON lines

    def id(self, template: str) -> str:
        """`sub_{acme}_001` -> this run's id (each {company} gets the tag)."""
        return template.format(**{c: f"{c}{self.tag}" for c in COMPANIES})


def demo(tmp: Path, tag: str) -> Demo:
    text = _COMPANY.sub(lambda m: f"{m.group(1)}{tag}", (EXAMPLES / "demo.jsonl").read_text())
    path = tmp / f"demo-{tag}.jsonl"
    path.write_text(text)
    events, problems = read_events(path)
    assert not problems, problems
    setup_text = (EXAMPLES / "demo-setup.json").read_text()
    setup = json.loads(_COMPANY.sub(lambda m: f"{m.group(1)}{tag}", setup_text))
    return Demo(tag=tag, events=events, setup=setup, text=text)


async def apply_setup(engine: Engine, setup: dict[str, Any],
                      erp: dict[str, dict[str, Any]] | None = None) -> None:
    """The scenario's payment outcomes and ERP settings (`erp` overrides the latter)."""
    async with httpx.AsyncClient(base_url=engine.urls["payments"], timeout=30) as c:
        for rule in setup.get("payments", []):
            await SandboxPaymentsAdmin(c).set_outcome(
                rule["key"], **{k: v for k, v in rule.items() if k != "key"})
    for name, config in {**setup.get("erp", {}), **(erp or {})}.items():
        async with httpx.AsyncClient(base_url=engine.urls[name], timeout=30) as c:
            await SandboxErpReader(c).set_config(**config)
