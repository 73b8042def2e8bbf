"""A private local stack for one benchmark run: its own ports, data dir and processes.

`StackControl` kills, stops and restarts the stack's processes for fault drills
(bench/chaos.py); a restarted process gets the environment the stack started with.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from temporalio.client import Client

from bench.naive_app import run_baseline
from bench.probe import progress
from bench.procstat import CpuMeter
from devstack import processes, stack
from devstack.processes import Proc
from settings import Settings


def ports_from(temporal_port: int) -> dict[str, int]:
    """A stack's ports laid out from its Temporal port as the documented defaults are
    (7233 -> UI 8233, gateway 8000, sandboxes 8100.., codec 8090, metrics 9464/9465/9466)."""
    base = temporal_port - 7233
    return {"temporal_port": temporal_port, "temporal_ui_port": base + 8233,
            "sandbox_port": base + 8100, "gateway_port": base + 8000,
            "codec_port": base + 8090, "worker_metrics_port": base + 9464,
            "sdk_metrics_port": base + 9465, "temporal_metrics_port": base + 9466}


def free_ports(rnd: random.Random, low: int = 10_000, high: int = 30_000) -> dict[str, int]:
    """A layout whose every port is free now (tests; a tiny race with other processes).

    Layouts (Temporal port .. +2232) stay below Linux's ephemeral range (32768 up): the
    ports the OS hands out meanwhile (the suite's own servers bind port 0, clients
    connect) can then never take one between this check and the stack's start.
    """
    for _ in range(200):
        ports = ports_from(rnd.randrange(low, high))
        if not any(processes.port_open("127.0.0.1", p) for p in layout_ports(ports)):
            return ports
    raise RuntimeError("no free port layout found")


def layout_ports(ports: dict[str, int]) -> set[int]:
    """Every port a stack of this layout binds: its named ports and the sandboxes' run."""
    return {*ports.values(), *(ports["sandbox_port"] + i for i in range(1, 7))}


# Far from the documented defaults and from the test suite's free ports, and above
# Linux's ephemeral range (32768-60999): inside it a client connection's local port could
# hold a bench port when the stack binds it (a worker failed to bind 59464 that way).
BENCH_PORTS = ports_from(61233)


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
def running_stack(settings: Settings, extra_env: Mapping[str, str] | None = None,
                  keep: bool = False) -> Iterator[list[Proc]]:
    """`make up` on the benchmark's ports; everything stopped (and removed unless `keep`)
    afterwards. `extra_env` reaches every process (e.g. sandbox fault settings)."""
    if threading.current_thread() is threading.main_thread():  # signals only go there
        signal.signal(signal.SIGTERM, _interrupt)
    procs = stack.up(settings, extra_env)
    try:
        yield procs
    finally:
        stack.down(settings)
        if not keep:
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


class StackControl:
    """Kill, stop and restart processes of a stack started by `running_stack`.

    The list of processes and the stack's registry follow every restart, so
    `running_stack` still stops exactly what runs at the end.
    """

    def __init__(self, settings: Settings, procs: list[Proc],
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.procs = procs
        self.env, _ = stack.stack_env(settings, extra_env)

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL the process group: no shutdown code runs (a crash)."""
        proc = self.proc(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        while processes.alive(proc.pid):
            time.sleep(0.05)

    def stop(self, name: str) -> None:
        """SIGTERM (then SIGKILL after 15 s): the process's own shutdown."""
        processes.stop(self.proc(name))

    def start(self, name: str, timeout: float = 120.0) -> Proc:
        """Start a stopped or killed process again with its command and environment."""
        old = self.proc(name)
        offset = stack.log_size(Path(old.log))
        new = processes.start(name, old.command, Path(old.log).parent, self.env, old.address)
        self.procs[self.procs.index(old)] = new
        stack.registry(self.settings).save(self.procs)
        if name == "temporal":
            for port in (self.settings.temporal_port, self.settings.temporal_ui_port):
                processes.wait_for_port(self.settings.host, port, new, timeout)
        elif name == "worker":
            stack._wait_for_log(new, stack.WORKER_READY, timeout, offset)
        return new


async def naive_baseline(settings: Settings, meter: CpuMeter, workflows: int
                         ) -> tuple[float, dict[str, float]]:
    """The naive integration on the stack's server: seconds and CPU per process.

    It is written as one would: a plain client (no payload codec), the SDK's defaults.
    """
    plain = await Client.connect(settings.temporal_target)
    with naive_worker(settings, "naive") as naive:
        meter.pids["naive-worker"] = naive.pid
        progress(f"naive baseline: {workflows} workflows")
        meter.start()
        seconds = await run_baseline(plain, "naive", workflows)
        cpu = meter.stop()
        del meter.pids["naive-worker"]
    progress(f"naive baseline took {seconds:.1f} s")
    return seconds, cpu
