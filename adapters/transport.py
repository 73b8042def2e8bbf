"""httpx clients whose requests travel through aiohttp's connection pool.

The adapters speak httpx (its Response, its errors, its MockTransport in unit tests), but
httpx's own transport (httpcore on anyio) costs about a millisecond of CPU per request
under concurrency on this machine kind, aiohttp's about a tenth of that
(docs/performance.md, "HTTP transport"). The worker calls the sandbox systems a few times
for every event, so the transport is a large share of its CPU. `async_client` keeps the
httpx API and swaps only the transport: timeouts, errors and headers mean what they mean
in httpx.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import yarl

# Below uvicorn's default keep-alive (5 s): a pooled connection is dropped by us before
# the server closes it under a request (httpcore's own expiry is 5 s).
KEEPALIVE_S = 4.0
POOL_SIZE = 100


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    t: dict[str, Any] = request.extensions.get("timeout", {})
    connect = t.get("connect")
    pool = t.get("pool")
    # httpx's pool timeout is the wait for a free connection; aiohttp counts that wait in
    # `connect` and the socket's own connect in `sock_connect`.
    waited = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=waited, sock_connect=connect,
                                 sock_read=t.get("read"))


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through one aiohttp session (made on first use, in
    the running event loop) and maps aiohttp's errors onto httpx's."""

    def __init__(self, pool_size: int = POOL_SIZE, keepalive_s: float = KEEPALIVE_S) -> None:
        self._pool_size = pool_size
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size,
                                             keepalive_timeout=self._keepalive_s)
            # httpx decodes, redirects and keeps cookies itself: aiohttp passes bytes.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        body = await request.aread()
        try:
            async with session.request(
                    request.method, yarl.URL(str(request.url), encoded=True), data=body or None,
                    headers=list(request.headers.multi_items()), allow_redirects=False,
                    timeout=_timeout(request), skip_auto_headers=("Content-Type",)) as answer:
                content = await answer.read()
                status, headers = answer.status, list(answer.raw_headers)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                aiohttp.ClientResponseError) as exc:
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__,
                                            request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def async_client(base_url: str = "", *, timeout: httpx.Timeout | float,
                 headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An httpx.AsyncClient on the aiohttp transport; close it with `aclose`."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers,
                             transport=AiohttpTransport())
