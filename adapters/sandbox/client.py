"""Client of the admin API every sandbox service has: health, fault settings, counters."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from adapters.http import call
from canonical.errors import UnavailableError

from .faults import FaultSettings

M = TypeVar("M", bound=BaseModel)


def parse(response: httpx.Response, model: type[M], system: str) -> M:
    """A 2xx body as `model`; a body that does not parse is the system misbehaving."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnavailableError(f"{response.request.method} {response.request.url.path}: "
                               f"unexpected answer ({exc.error_count()} error(s))",
                               system=system) from exc


def admin_correlation_id() -> str:
    """A correlation id for operator/test calls that belong to no business flow."""
    return f"sandbox-admin-{uuid.uuid4().hex[:12]}"


class SandboxAdminClient:
    """Health, fault settings and counters of one sandbox service.

    Args:
        client: an `httpx.AsyncClient` whose base_url is the service's.
        system: the system name canonical errors carry ("erp", "crm", ...).
    """

    def __init__(self, client: httpx.AsyncClient, system: str = "sandbox") -> None:
        self._client = client
        self._system = system

    async def _call(self, method: str, path: str, json: Any = None,
                    params: dict[str, Any] | None = None) -> httpx.Response:
        return await call(self._client, method, path, system=self._system,
                          correlation_id=admin_correlation_id(), json=json, params=params)

    async def health(self) -> bool:
        """True when the service answers its health check."""
        return bool((await self._call("GET", "/health")).json().get("status") == "ok")

    async def faults(self) -> FaultSettings:
        """The current fault settings."""
        return parse(await self._call("GET", "/_admin/faults"), FaultSettings, self._system)

    async def set_faults(self, **changes: Any) -> FaultSettings:
        """Change some fault settings (e.g. `error_rate=0.2, error_phase="after"`)."""
        response = await self._call("PUT", "/_admin/faults", json=changes)
        return parse(response, FaultSettings, self._system)

    async def reset_faults(self) -> FaultSettings:
        """Back to no faults and no limits."""
        return await self.set_faults(**FaultSettings().model_dump())

    async def stats(self) -> dict[str, Any]:
        """Counters: requests, by_status, rate_limited, postings_created, duplicates, ..."""
        body: dict[str, Any] = (await self._call("GET", "/_admin/stats")).json()
        return body

    async def reset_stats(self) -> None:
        """Start the counters from zero."""
        await self._call("POST", "/_admin/stats/reset")
