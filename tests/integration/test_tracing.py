"""One activation is one trace: client -> workflows -> activities -> HTTP -> sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from cli.send import deliver
from observability.tracing import client_interceptors
from tests.integration.stack import running_engine
from tests.observability_harness import memory_spans, pii_lifecycle, settle


async def test_one_activation_is_one_trace_from_the_client_into_the_sandboxes(
        dev_client: Client, tmp_path: Path) -> None:
    spans = memory_spans()
    assert isinstance(spans, InMemorySpanExporter)
    client = Client(dev_client.service_client, namespace=dev_client.namespace,
                    data_converter=dev_client.data_converter,
                    interceptors=client_interceptors())
    life = pii_lifecycle("sub_trace_1", invoice=False)
    async with running_engine(client, tmp_path) as engine:
        spans.clear()
        await deliver(client, life.events, engine.config)
        await settle(engine, Counter({life.subscription_id: 1}))
    finished = [s for s in spans.get_finished_spans() if "Query" not in s.name]
    by_id = {s.context.span_id: s for s in finished}
    [root] = [s for s in finished if s.name == "SignalWithStartWorkflow:SubscriptionWorkflow"]

    def attributes(span: ReadableSpan) -> Mapping[str, Any]:
        assert span.attributes is not None, span.name
        return span.attributes

    def chain(span):  # names from a span up to the root of its trace
        names = [span.name]
        while span.parent is not None:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    assert {s.context.trace_id for s in finished} == {root.context.trace_id}
    corr = life.events[0].correlation_id
    activities = [s for s in finished if s.name.startswith("RunActivity:")]
    assert {a.name for a in activities} == {"RunActivity:validate_customer",
                                            "RunActivity:post_routed",
                                            "RunActivity:grant_entitlements"}
    for act in activities:
        assert attributes(act)["correlation_id"] == corr
        calls = [s for s in finished if s.kind == SpanKind.CLIENT and s.parent
                 and s.parent.span_id == act.context.span_id]
        assert calls, act.name
        for call in calls:
            assert attributes(call)["correlation_id"] == corr
            [served] = [s for s in finished if s.kind == SpanKind.SERVER
                        and attributes(s).get("correlation_id") == corr and s.parent
                        and s.parent.span_id == call.context.span_id]
            assert attributes(served)["http.response.status_code"] == 200
            path = chain(served)
            assert path[-1] == root.name
            assert path[1:3] == [call.name, act.name]
            # a smooth activation runs in the entity (workflows/activation_inline.py)
            assert not any("ActivationFlow" in name for name in path)
