"""A private local stack for one benchmark run: its own ports, data dir and processes."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devstack import processes, stack
from devstack.processes import Proc
from settings import Settings

# Far from the documented defaults and from the test suite's free ports.
BENCH_PORTS = {"temporal_port": 57233, "temporal_ui_port": 58233, "sandbox_port": 58100,
               "gateway_port": 58000, "codec_port": 58090, "worker_metrics_port": 59464,
               "sdk_metrics_port": 59465}


def bench_settings(**overrides: object) -> Settings:
    data = Path(tempfile.mkdtemp(prefix="cashloop-bench-"))
    return Settings(**{**BENCH_PORTS, "data_dir": data, **overrides})  # type: ignore[arg-type]


def _interrupt(signum: int, _frame: object) -> None:
    """A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the stack still stops.

    Later SIGTERMs are ignored: they would abort the clean-up itself.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def running_stack(settings: Settings) -> Iterator[list[Proc]]:
    """`make up` on the benchmark's ports; everything stopped and removed afterwards."""
    signal.signal(signal.SIGTERM, _interrupt)
    procs = stack.up(settings)
    try:
        yield procs
    finally:
        stack.down(settings)
        shutil.rmtree(settings.data_dir, ignore_errors=True)


@contextlib.contextmanager
def naive_worker(settings: Settings, task_queue: str) -> Iterator[Proc]:
    proc = processes.start(
        "naive-worker", [sys.executable, "-m", "bench.naive_app", "--address",
                         settings.temporal_target, "--task-queue", task_queue],
        settings.data_dir / "logs", stack.child_env(settings))
    try:
        stack._wait_for_log(proc, "naive worker polling")
        yield proc
    finally:
        processes.stop(proc)


def pid_of(procs: list[Proc], name: str) -> int:
    return next(p.pid for p in procs if p.name == name)
