"""The payload converter shares pydantic adapters across workflow instances."""

from __future__ import annotations

from canonical.events import Event
from payload_converter import SharedPayloadConverter, _shared_adapter
from tests.unit.flows_harness import annual


def test_a_second_converter_builds_no_adapter_and_events_round_trip() -> None:
    events = annual("sub_conv").events  # an activation and an invoice
    first, second = SharedPayloadConverter(), SharedPayloadConverter()
    _shared_adapter.cache_clear()
    payloads = first.to_payloads([events])
    assert first.from_payloads(payloads, [list[Event]]) == [events]
    built = _shared_adapter.cache_info().misses
    assert built >= 1
    assert second.from_payloads(payloads, [list[Event]]) == [events]
    info = _shared_adapter.cache_info()
    assert info.misses == built and info.hits >= 1  # the second instance built nothing
