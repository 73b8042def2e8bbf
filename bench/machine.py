"""How fast this machine is right now, to read benchmark figures taken minutes apart.

The machines here are shared: the same code's CPU per event has moved by half between
runs of one session (docs/performance.md, scale), most where the work is memory-bound
(a cache miss's replay over a large heap, the server's reads of a large SQLite file).
`speed_ms` times a fixed Python workload of that kind — building, sorting and walking a
few hundred thousand small objects scattered over ~70 MiB — so a result can carry the
machine's pace next to its figures; a higher figure is a slower machine. It is context,
not a correction: it runs beside the stack under test, and in the tenth session it ran
10-78 % slower beside every idle 10,000-subscription stack than beside a 1,000 one.
"""

from __future__ import annotations

import random
import time
from statistics import median
from typing import Any

OBJECTS = 200_000
ROUNDS = 3


def _workload(rnd: random.Random) -> int:
    rows: list[dict[str, Any]] = [
        {"id": i, "key": rnd.random(), "tags": [i, str(i)]} for i in range(OBJECTS)
    ]
    rows.sort(key=lambda row: row["key"])  # the walk below then jumps around the heap
    by_id = {row["id"]: row for row in rows}
    return sum(len(by_id[rnd.randrange(OBJECTS)]["tags"]) for _ in range(OBJECTS))


def speed_ms() -> float:
    """CPU milliseconds of the fixed workload (the median of a few rounds)."""
    rnd = random.Random(7)
    times = []
    for _ in range(ROUNDS):
        start = time.process_time()
        _workload(rnd)
        times.append((time.process_time() - start) * 1000)
    return round(median(times), 1)


if __name__ == "__main__":
    print(f"machine pace: {speed_ms()} ms")
