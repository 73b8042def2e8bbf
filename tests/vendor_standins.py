"""The vendors' in-memory stand-ins (tests/unit/*_fake.py) served over real HTTP.

Each stand-in answers an `httpx.Request` (the handler its MockTransport uses); here a
minimal ASGI app turns every HTTP request into one and its answer back, and uvicorn
serves it on a free port in the test's event loop — so the worker's own clients,
built by `ports.configured_ports` from settings, talk to them over sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import uvicorn

Handler = Callable[[httpx.Request], httpx.Response]


class HandlerApp:
    """ASGI: an HTTP request as an `httpx.Request` to `handler`, its response back."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        host, port = scope["server"]
        query = scope.get("query_string", b"").decode()
        path = scope["raw_path"].decode() if scope.get("raw_path") else scope["path"]
        url = f"http://{host}:{port}{path}" + (f"?{query}" if query else "")
        request = httpx.Request(scope["method"], url,
                                headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
                                content=body)
        response = self._handler(request)
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()
                                if k.lower() not in ("content-length", "transfer-encoding")]})
        await send({"type": "http.response.body", "body": response.content})


@contextlib.asynccontextmanager
async def serving(handlers: Mapping[str, Handler]) -> AsyncIterator[dict[str, str]]:
    """Serve each handler on a free port of 127.0.0.1; yields {name: base URL}."""
    servers: dict[str, uvicorn.Server] = {}
    tasks: list[asyncio.Task[None]] = []
    try:
        for name, handler in handlers.items():
            config = uvicorn.Config(HandlerApp(handler), host="127.0.0.1", port=0,
                                    log_level="warning", access_log=False, lifespan="off",
                                    log_config=None)
            server = uvicorn.Server(config)
            servers[name] = server
            tasks.append(asyncio.create_task(server.serve(), name=f"standin-{name}"))
        while not all(s.started for s in servers.values()):
            if any(t.done() for t in tasks):
                raise RuntimeError("a vendor stand-in failed to start")
            await asyncio.sleep(0.01)
        yield {name: f"http://127.0.0.1:{s.servers[0].sockets[0].getsockname()[1]}"
               for name, s in servers.items()}
    finally:
        for server in servers.values():
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
