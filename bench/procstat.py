"""CPU seconds of processes from /proc, to report server and worker CPU per event."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int, *fields: int) -> list[int]:
    """Numeric fields of /proc/PID/stat by their number in proc(5); zeros once the
    process is gone."""
    try:
        # after the command name (which may hold spaces), field 3 comes first
        after = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return [0] * len(fields)
    return [int(after[f - 3]) for f in fields]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children so far."""
    # utime 14, stime 15, cutime 16, cstime 17
    return sum(_stat(pid, 14, 15, 16, 17)) / _TICKS


def major_faults(pid: int) -> int:
    """Page faults of a process that had to read from disk (e.g. its files' pages
    after the kernel dropped them from memory)."""
    return _stat(pid, 12)[0]  # majflt


def read_bytes(pid: int) -> int:
    """Bytes a process caused to be read from storage (not from the page cache)."""
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def kernel_threads_cpu_seconds(prefix: str) -> float:
    """CPU seconds of the kernel threads whose name starts with `prefix` (e.g.
    "kdamond", the kernel's proactive memory reclaim where it is configured)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith(prefix):
                total += cpu_seconds(int(comm.parent.name))
        except OSError:
            continue
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class CpuMeter:
    """CPU used by a set of processes between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: round(cpu_seconds(pid) - self._start.get(name, 0.0), 2)
                for name, pid in self.pids.items()}
