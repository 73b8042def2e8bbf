"""The event loop of Cashloop's processes: uvloop where it is installed (Linux), else asyncio.

Measured in the throughput benchmark (docs/performance.md, "Event loop and HTTP transport"):
the worker's CPU goes on cross-thread wake-ups from the Temporal core, socket writes and
selector polls as much as on workflow code, and uvloop does those in C. The gateway gets
uvloop from uvicorn already. `CASHLOOP_EVENT_LOOP=asyncio` runs the standard loop (for a
debugger, or to compare).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoop = Literal["uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], loop: EventLoop = "uvloop") -> T:
    """Run `main` to completion on a new event loop of the given kind."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # not on this platform: the standard loop does the same work
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)
