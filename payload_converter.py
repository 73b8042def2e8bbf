"""The pydantic payload converter, with its JSON type adapters shared by every workflow.

The SDK gives each workflow instance a payload converter of its own, so
temporalio.contrib.pydantic's adapter cache starts empty for every workflow that starts or
is replayed after an eviction from the worker's cache: each rebuilt the pydantic adapter
of every type it decoded (the Event union, activity results, its input), a tenth of the
worker's CPU in a py-spy profile of events for evicted entities (docs/performance.md).
Adapters are immutable and safe to share, so the unsandboxed worker (the default), the
client and the activities share one cache; code inside the workflow sandbox keeps a
cache per instance, since its workflow types are re-imported per run and a shared cache
would keep their modules alive.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter
from temporalio import workflow
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import DataConverter

MAX_SHARED_ADAPTERS = 512

_shared_adapter = functools.lru_cache(maxsize=MAX_SHARED_ADAPTERS)(TypeAdapter)


class _SharedAdapters:
    """Stands in for the converter's per-instance adapter cache."""

    def __init__(self, own: Callable[[Any], TypeAdapter[Any]]) -> None:
        self._own = own

    def __call__(self, type_hint: Any) -> TypeAdapter[Any]:
        if workflow.unsafe.in_sandbox():
            return self._own(type_hint)
        return _shared_adapter(type_hint)


class SharedPayloadConverter(PydanticPayloadConverter):
    """PydanticPayloadConverter whose JSON converter looks adapters up process-wide."""

    def __init__(self) -> None:
        super().__init__()
        json_converter = self.converters.get(b"json/plain")
        if not isinstance(json_converter, PydanticJSONPlainPayloadConverter) or not hasattr(
                json_converter, "_type_adapter"):
            raise RuntimeError("temporalio.contrib.pydantic no longer keeps its adapter cache "
                               "in _type_adapter: payload_converter.py needs updating")
        # the SDK types its cache as the lru_cache wrapper; a stand-in callable replaces it
        json_converter._type_adapter = _SharedAdapters(  # type: ignore[assignment]
            json_converter._type_adapter)


shared_data_converter = DataConverter(payload_converter_class=SharedPayloadConverter)
