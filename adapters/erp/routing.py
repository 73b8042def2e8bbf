"""Routing of ERP calls by legal entity and domain, so entities migrate one domain at a time."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from canonical.base import Canonical

from .port import ErpPort


class Domain(StrEnum):
    CUSTOMER_MASTER = "customer_master"
    RECEIVABLES = "receivables"
    REVENUE = "revenue"


class RoutingTable(Canonical):
    """(legal entity, domain) -> ERP target name; `default` for anything not listed."""

    default: str
    entities: dict[str, dict[Domain, str]] = Field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: Path) -> RoutingTable:
        return cls.model_validate(tomllib.loads(path.read_text()))

    def target(self, legal_entity: str, domain: Domain) -> str:
        return self.entities.get(legal_entity, {}).get(domain, self.default)

    def targets(self) -> set[str]:
        return {self.default} | {t for d in self.entities.values() for t in d.values()}


class ErpRouter:
    """Picks the ERP adapter for a legal entity and domain."""

    def __init__(self, table: RoutingTable, erps: dict[str, ErpPort]) -> None:
        missing = table.targets() - erps.keys()
        if missing:
            raise ValueError(f"routing names ERP targets with no adapter: {sorted(missing)}")
        self._table = table
        self._erps = erps

    def for_entity(self, legal_entity: str, domain: Domain) -> ErpPort:
        return self._erps[self._table.target(legal_entity, domain)]

    @property
    def erps(self) -> dict[str, ErpPort]:
        return dict(self._erps)
