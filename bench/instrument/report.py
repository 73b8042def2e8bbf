"""Diff two snapshots of bench/instrument's totals: per process, what ran between them.

    python -m bench.instrument.report BEFORE_DIR AFTER_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    for path in sorted(after.glob("stats-*.json")):
        new = json.loads(path.read_text())
        old_path = before / path.name
        old = json.loads(old_path.read_text()) if old_path.exists() else {}
        cpu = new["process_cpu"][1] - old.get("process_cpu", [0, 0.0])[1]
        print(f"{path.name}: process CPU {cpu:.2f} s")
        rows = []
        for kind, (count, seconds) in new.items():
            if kind == "process_cpu":
                continue
            was_count, was_seconds = old.get(kind, [0, 0.0])
            n, s = count - was_count, seconds - was_seconds
            if n:
                rows.append((s, kind, n))
        for s, kind, n in sorted(rows, reverse=True):
            mean = f"{1e3 * s / n:8.2f} ms" if s else ""
            print(f"  {kind:45s} n={n:8d} total={s:8.3f} s {mean}")


if __name__ == "__main__":
    main()
