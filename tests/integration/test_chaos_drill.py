"""The small chaos drill (bench/chaos.py): the same books after faults as after a clean run.

Two private stacks on free ports side by side (dev server on a SQLite file, sandboxes,
gateway, worker as processes), 100 events of the mixed stream; in the drilled run a third
of them come twice and out of order, the worker is SIGKILLed once, the dev server is
restarted once and the ERP sandboxes fail a fifth of their calls. (Small to stay near a
minute on the shared 2-core machine; `python -m bench.chaos` is the full drill.) That the
comparison can fail at all is shown in tests/unit/test_books.py (a planted double
posting, a lost one).
"""

from __future__ import annotations

import random

from bench.chaos import drill, parser
from bench.harness import free_ports, layout_ports

EVENTS = 100


async def test_small_drill_loses_and_doubles_nothing() -> None:
    rnd = random.Random()
    chaos_ports = free_ports(rnd)
    clean_ports = free_ports(rnd)
    # the two stacks start together: no port of one may be in the other's run (the
    # sandboxes take sandbox_port..+6, not only the named ports)
    while layout_ports(clean_ports) & layout_ports(chaos_ports):
        clean_ports = free_ports(rnd)
    # Both stacks side by side, fast intake, faults early (at random within 6-12 s of the
    # first delivery): the activities a kill or the restart strands wait out their 30 s
    # start-to-close timeout while the clean run goes on.
    args = parser().parse_args([
        "--events", str(EVENTS), "--kills", "1", "--restarts", "1", "--server-down-s", "2",
        "--window", "50", "--rate", "20", "--together", "--fault-window-s", "20",
        "--fault-span", "0.3,0.6", "--seed", str(rnd.randrange(10_000)),
        "--settle-timeout", "600"])
    result = await drill(args, chaos_ports, clean_ports)

    assert result["result"] == "lost=0 doubled=0 mismatched=0", result["listing"]
    assert result["ok"], result["listing"]
    chaos = result["chaos"]
    assert chaos["erp_documents"] == result["clean"]["erp_documents"] > EVENTS / 2
    # the faults were really there
    assert sorted(f["kind"] for f in chaos["faults"]) == ["kill-worker", "restart-server"]
    assert sum(erp["faults_injected"] for erp in chaos["erp"].values()) > 0
    assert chaos["repeats"] == round(result["events"] * 0.3)
    assert chaos["gateway"]["duplicates"] > 0 and chaos["out_of_order"] > 0
    assert "SequenceGap" not in chaos["findings"]
