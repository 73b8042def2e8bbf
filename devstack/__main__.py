"""`python -m devstack up|down|demo` (what `make up`, `make down` and `make demo` run)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from settings import PROJECT_ROOT, Settings

from . import stack
from .demo import run_demo


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m devstack")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the local stack and leave it running")
    sub.add_parser("down", help="stop what `up` started")
    demo = sub.add_parser("demo", help="run the demo scenario end to end")
    demo.add_argument("--scenario", type=Path, default=PROJECT_ROOT / "examples" / "demo.jsonl")
    demo.add_argument("--stripe", type=Path,
                      default=PROJECT_ROOT / "examples" / "stripe_webhooks.jsonl",
                      help="Stripe webhook events (one per line) sent signed to the gateway")
    demo.add_argument("--keep", action="store_true", help="leave the stack running")
    args = p.parse_args()
    settings = Settings()
    if args.command == "up":
        try:
            procs = stack.up(settings)
        except (RuntimeError, TimeoutError) as err:
            print(f"make up failed: {err}", file=sys.stderr)
            return 1
        print("Cashloop stack is up:")
        for proc in procs:
            print(f"  {proc.name:<10} pid {proc.pid:<7} {proc.address}")
        for note in stack.stack_secrets(settings)[1]:
            print(f"  {note}")
        print(f"  logs under {settings.data_dir / 'logs'}; stop with `make down`")
        print("\n" + "\n".join(stack.finance_pointer(settings)))
        return 0
    if args.command == "down":
        procs = stack.down(settings)
        print("stopped: " + (", ".join(f"{p.name} (pid {p.pid})" for p in procs) or "nothing"))
        return 0
    try:
        return asyncio.run(run_demo(settings, args.scenario, args.keep, args.stripe))
    except (RuntimeError, TimeoutError) as err:
        print(f"make demo failed: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
