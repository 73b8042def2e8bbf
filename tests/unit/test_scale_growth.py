"""How bench/scale.py draws its probe and turns its runs into the growth figure."""

from __future__ import annotations

from typing import Any

from bench.probe import SdkCounters, ServerCounters
from bench.scale import WARMUP, growth, miss_model, probe_batches


def run(size: int, server_ms: float, worker_ms: float) -> dict[str, Any]:
    return {"subscriptions": size,
            "cpu_ms_per_event": {"temporal": server_ms, "worker": worker_ms, "unit": "ms"}}


def test_growth_is_largest_over_smallest_whatever_the_order() -> None:
    assert growth([run(10_000, 15, 15), run(1000, 10, 10)]) == 1.5


def test_a_size_given_twice_counts_as_its_mean() -> None:
    runs = [run(1000, 10, 10), run(10_000, 14, 19), run(1000, 12, 12)]
    assert growth(runs) == 1.5


def subscription_of(event: Any) -> str:
    return event.payload.invoice.subscription_id


def test_the_probe_is_split_into_rounds_of_distinct_subscriptions() -> None:
    activations, warmup, rounds = probe_batches(200, 60, 4, seed=3)
    assert len(activations) == 200
    assert [len(r) for r in rounds] == [15] * 4
    assert len(warmup) == WARMUP
    probed = [subscription_of(e) for e in warmup + [e for r in rounds for e in r]]
    assert len(set(probed)) == len(probed)  # no subscription twice, warm-up included
    assert {e.event_type for r in rounds for e in r} == {"invoice.issued"}


def test_the_same_seed_draws_the_same_probe() -> None:
    first = probe_batches(300, 40, 2, seed=5)[2]
    again = probe_batches(300, 40, 2, seed=5)[2]
    assert ([[e.event_id for e in r] for r in first]
            == [[e.event_id for e in r] for r in again])


def test_a_small_population_repeats_subscriptions_across_batches_but_not_within() -> None:
    _, warmup, rounds = probe_batches(100, 150, 2, seed=3)
    assert [len(r) for r in rounds] == [75, 75]
    for batch in [warmup, *rounds]:
        subs = [subscription_of(e) for e in batch]
        assert len(set(subs)) == len(subs)
    seen = {subscription_of(e) for r in rounds for e in r}
    assert len(seen) < 150  # 150 probe events over 100 subscriptions
    ids = [e.payload.invoice.invoice_id for b in [warmup, *rounds] for e in b]
    assert len(set(ids)) == len(ids)


def missing(size: int, cost_ms: float, misses: float) -> dict[str, Any]:
    return {**run(size, cost_ms / 2, cost_ms / 2), "cache_misses_per_event": misses}


def test_the_miss_model_fits_the_cost_of_a_miss_through_the_two_sizes() -> None:
    # cached events cost 40 ms, a miss adds 15: 0.8 misses per event cost 52
    model = miss_model([missing(1000, 40, 0.0), missing(10_000, 52, 0.8)])
    assert model == {"ms_per_miss": 15.0, "ms_per_event_cached": 40.0,
                     "growth_if_every_event_missed": 1.38}


def test_the_miss_model_counts_the_smaller_sizes_own_misses() -> None:
    # 0.1 misses per event at the small size already: its 41.5 ms holds 1.5 of misses
    model = miss_model([missing(1000, 41.5, 0.1), missing(10_000, 52, 0.8)])
    assert model is not None
    assert model["ms_per_miss"] == 15.0
    assert model["ms_per_event_cached"] == 40.0
    assert model["growth_if_every_event_missed"] == round(55 / 41.5, 2)


def test_no_miss_model_when_both_sizes_miss_alike() -> None:
    assert miss_model([missing(1000, 40, 0.5), missing(10_000, 41, 0.6)]) is None


METRICS = """\
# HELP temporal_sticky_cache_miss_total Count of sticky cache misses
temporal_sticky_cache_miss_total{namespace="default",task_queue="cashloop"} 7
temporal_sticky_cache_miss{namespace="default",task_queue="other"} 2
temporal_sticky_cache_hit_total{namespace="default",workflow_type="W"} 40
temporal_workflow_task_execution_latency_count{workflow_type="A"} 10
temporal_workflow_task_execution_latency_count{workflow_type="B"} 5
"""


def test_sdk_counters_sum_label_sets_with_or_without_the_total_suffix() -> None:
    totals = SdkCounters.totals(METRICS)
    assert totals["cache_misses"] == 9  # the hits are not misses
    assert totals["workflow_tasks"] == 15
    assert totals["activities"] == 0  # none yet: the worker has not exported it


SERVER_METRICS = """# TYPE task_requests counter
task_requests{archetype="workflow",namespace="default",operation="TimerActiveTaskUserTimer",\
service_name="history",task_type="TimerActiveTaskUserTimer"} 1000
task_requests{archetype="workflow",namespace="temporal_system",\
operation="TimerActiveTaskUserTimer",service_name="history"} 2
persistence_requests{namespace="default",operation="GetWorkflowExecution",\
service_name="history"} 2001
persistence_requests{namespace="default",operation="ReadHistoryBranch",service_name="history"} 4000
persistence_latency_bucket{namespace="default",operation="GetWorkflowExecution",le="0.1"} 7
service_requests{operation="PollWorkflowTaskQueue",service_name="frontend"} 9
"""


def test_server_counters_sum_each_operation_over_its_labels() -> None:
    totals = ServerCounters.totals(SERVER_METRICS)
    assert totals == {"task_requests": {"TimerActiveTaskUserTimer": 1002},
                      "persistence_requests": {"GetWorkflowExecution": 2001,
                                               "ReadHistoryBranch": 4000}}


def test_server_counters_report_only_what_moved() -> None:
    before = ServerCounters.totals(SERVER_METRICS)
    after = ServerCounters.totals(SERVER_METRICS.replace("} 2001", "} 2051")
                                  + 'persistence_requests{operation="CreateTasks"} 3\n')
    assert ServerCounters.moved(before, after, "persistence_requests") == {
        "GetWorkflowExecution": 50, "CreateTasks": 3}
    assert ServerCounters.moved(before, after, "task_requests") == {}
