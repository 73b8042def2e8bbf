"""The chaos drill's process faults: worker SIGKILLs and a Temporal server restart.

Each fault fires at a random point of the run's progress — the share of the clean run's
ERP documents the drilled stack has created — so the faults land while work is in
flight however fast or slow the machine is; a fault whose point is not reached by
`deadline_s` (progress stalled) fires then anyway. Faults never overlap: each is done
(process back up) before the next one's point is awaited.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.harness import StackControl
from devstack import processes


@dataclass(frozen=True)
class Fault:
    kind: str  # "kill-worker" | "restart-server"
    at_progress: float  # 0..1


@dataclass
class Done:
    kind: str
    at_progress: float
    progress: float  # when it fired
    at_s: float  # seconds into the run
    down_s: float  # until the process was back
    note: str = ""


def schedule(rnd: random.Random, kills: int, restarts: int,
             span: tuple[float, float] = (0.05, 0.9)) -> list[Fault]:
    """`kills` worker kills and `restarts` server restarts at random progress points."""
    faults = [Fault("kill-worker", rnd.uniform(*span)) for _ in range(kills)]
    faults += [Fault("restart-server", rnd.uniform(*span)) for _ in range(restarts)]
    return sorted(faults, key=lambda f: f.at_progress)


@dataclass
class Mayhem:
    control: StackControl
    progress: Callable[[], Awaitable[float]]
    rnd: random.Random
    server_down_s: float = 10.0
    server_signal: str = "term"  # or "kill"
    done: list[Done] = field(default_factory=list)

    async def run(self, faults: list[Fault], deadline_s: float) -> None:
        started = time.monotonic()
        for fault in faults:
            due = started + deadline_s * fault.at_progress
            now = 0.0
            while time.monotonic() < due:
                try:
                    now = await self.progress()
                except Exception:  # a sandbox too busy to answer: look again
                    now = 0.0
                if now >= fault.at_progress:
                    break
                await asyncio.sleep(0.5)
            began = time.monotonic()
            note = await asyncio.to_thread(self._inflict, fault.kind)
            self.done.append(Done(fault.kind, round(fault.at_progress, 3), round(now, 3),
                                  round(began - started, 1),
                                  round(time.monotonic() - began, 1), note))

    def _inflict(self, kind: str) -> str:
        if kind == "kill-worker":
            self.control.kill("worker")
            time.sleep(self.rnd.uniform(0.0, 2.0))  # a supervisor's restart delay
            self.control.start("worker")
            return ""
        if self.server_signal == "kill":
            self.control.kill("temporal")
        else:
            self.control.stop("temporal")
        time.sleep(self.server_down_s)
        self.control.start("temporal")
        # The worker is expected to ride the outage out; a supervisor would restart it.
        if not processes.alive(self.control.proc("worker").pid):
            self.control.start("worker")
            return "worker exited during the server outage; restarted"
        return ""

    def report(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.done]
