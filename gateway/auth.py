"""API keys of canonical-event senders: one key per source, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

API_KEY_HEADER = "X-API-Key"


class ApiKeys:
    """The configured `source -> key` pairs (from CASHLOOP_API_KEYS)."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(source, key.encode()) for source, key in keys.items()]

    def __repr__(self) -> str:  # never show a key
        return f"ApiKeys(sources={[s for s, _ in self._keys]})"

    def source_of(self, presented: str | None) -> str | None:
        """The source a presented key belongs to, or None.

        Every configured key is compared, whatever matched, so the time taken says
        nothing about which key (or how much of one) was right.
        """
        if not presented:
            return None
        given = presented.encode()
        found: str | None = None
        for source, key in self._keys:
            if hmac.compare_digest(given, key) and found is None:
                found = source
        return found


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key from `X-API-Key`, or from `Authorization: Bearer <key>`."""
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
