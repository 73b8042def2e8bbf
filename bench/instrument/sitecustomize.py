"""Where the worker's CPU goes, by kind of workflow activation (bench tooling, not product).

    PYTHONPATH=bench/instrument python -m bench.scale ...
    python -m bench.instrument.report BEFORE_DIR AFTER_DIR

Python imports this module at start-up when its directory is on PYTHONPATH; in a process
started as `worker.py` (the bench stacks' worker, which inherits the environment) it
times the SDK's workflow activations by the kinds of job they carry ("R:" when
replaying), in the activation thread's own CPU time, the creation of workflow instances,
and the garbage collector's collections by generation, and writes the running totals to
$CASHLOOP_INSTRUMENT_DIR/stats-<pid>.json (default /tmp/cashloop-instrument) every 5 s:
copy the files before a probe and diff them after it (bench.instrument.report). It
patches private SDK classes (temporalio.worker._workflow_instance, _workflow): fine for a
measurement, never for the product (docs/performance.md, fourteenth session).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.bridge.proto.workflow_activation import (
        InitializeWorkflow,
        WorkflowActivation,
    )
    from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
    from temporalio.worker._workflow_instance import WorkflowInstance

DUMP_EVERY_S = 5.0


def _install() -> None:
    import gc

    from temporalio.worker import _workflow as sdk_worker
    from temporalio.worker import _workflow_instance as sdk_instance

    totals: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lock = threading.Lock()

    def add(kind: str, seconds: float, count: int = 1) -> None:
        with lock:
            entry = totals[kind]
            entry[0] += count
            entry[1] += seconds

    def kind_of(act: WorkflowActivation) -> str:
        # a job whose variant these protos do not know (a newer Core) has none
        jobs = sorted({job.WhichOneof("variant") or "unknown" for job in act.jobs})
        return ("R:" if act.is_replaying else "") + "+".join(jobs)

    activate = sdk_instance._WorkflowInstanceImpl.activate

    def timed_activate(self: sdk_instance._WorkflowInstanceImpl,
                       act: WorkflowActivation) -> WorkflowActivationCompletion:
        started = time.thread_time()
        try:
            return activate(self, act)
        finally:
            add(kind_of(act), time.thread_time() - started)

    create = sdk_worker._WorkflowWorker._create_workflow_instance

    def timed_create(self: sdk_worker._WorkflowWorker, act: WorkflowActivation,
                     init: InitializeWorkflow) -> WorkflowInstance:
        started = time.thread_time()
        try:
            return create(self, act, init)
        finally:
            add("create_instance", time.thread_time() - started)

    sdk_instance._WorkflowInstanceImpl.activate = timed_activate  # type: ignore[method-assign]
    sdk_worker._WorkflowWorker._create_workflow_instance = timed_create  # type: ignore[method-assign]

    # The collector runs its callbacks inside whichever thread allocated, possibly one that
    # holds `lock` (the dump's copy): taking `lock` here would deadlock that thread, and
    # with it the worker. Collections never overlap, so their totals need no lock; their
    # keys exist from the start, so a copy never sees the dict grow.
    gc_totals: dict[str, list[float]] = {
        key: [0, 0.0] for g in range(3) for key in (f"gc{g}", f"gc{g}_collected_objects")}
    gc_started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started["t"] = time.thread_time()
            return
        generation = info["generation"]
        pause = gc_totals[f"gc{generation}"]
        pause[0] += 1
        pause[1] += time.thread_time() - gc_started.get("t", time.thread_time())
        gc_totals[f"gc{generation}_collected_objects"][0] += info["collected"]

    gc.callbacks.append(on_gc)

    out = os.environ.get("CASHLOOP_INSTRUMENT_DIR", "/tmp/cashloop-instrument")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"stats-{os.getpid()}.json")

    def dump() -> None:
        while True:
            time.sleep(DUMP_EVERY_S)
            with lock:
                data = {kind: list(entry) for kind, entry in totals.items()}
            data.update({kind: list(entry) for kind, entry in gc_totals.items()})
            data["process_cpu"] = [1, time.process_time()]
            with open(path + ".tmp", "w") as f:
                json.dump(data, f)
            os.replace(path + ".tmp", path)

    threading.Thread(target=dump, name="instrument-dump", daemon=True).start()


if sys.argv and os.path.basename(sys.argv[0]) == "worker.py":
    _install()
