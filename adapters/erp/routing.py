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

    def assignments(self) -> list[tuple[str, Domain, str]]:
        """(entity, domain, target) of every listed entity, and ("default", ...) of the rest."""
        return [(entity, domain, self.target(entity, domain))
                for entity in ["default", *self.entities] for domain in Domain]


class ErpRouter:
    """Picks the ERP adapter for a legal entity and domain."""

    def __init__(self, table: RoutingTable, erps: dict[str, ErpPort]) -> None:
        missing = table.targets() - erps.keys()
        if missing:
            raise ValueError(f"routing names ERP targets with no adapter: {sorted(missing)}")
        for entity, domain, target in table.assignments():
            # a connector that keeps only some domains says which (NetSuite: no revenue)
            kept = getattr(erps[target], "domains", None)
            if kept is not None and domain not in kept:
                raise ValueError(f"routing sends {entity} {domain} to {target}, which keeps "
                                 f"only {', '.join(sorted(kept))}")
        self._table = table
        self._erps = erps

    def for_entity(self, legal_entity: str, domain: Domain) -> ErpPort:
        return self._erps[self._table.target(legal_entity, domain)]

    @property
    def erps(self) -> dict[str, ErpPort]:
        return dict(self._erps)
