"""The aiohttp transport under httpx, against a real uvicorn server: what the adapters see
(bodies, headers, statuses, timeouts, refused and dropped connections) is what httpx's own
transport gives them."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.http import call
from adapters.transport import async_client
from canonical.errors import RejectedError, UnavailableError


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"method": request.method, "path": request.url.path,
                         "query": dict(request.query_params),
                         "headers": {k: v for k, v in request.headers.items()},
                         "body": json.loads(body) if body else None})


async def status(request: Request) -> Response:
    return JSONResponse({"detail": "already posted"},
                        status_code=int(request.path_params["code"]),
                        headers={"Retry-After": "2"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["s"]))
    return JSONResponse({"late": True})


async def zipped(_request: Request) -> Response:
    return Response(gzip.compress(b'{"zipped": true}'), media_type="application/json",
                    headers={"Content-Encoding": "gzip"})


async def cut(_request: Request) -> Response:
    # A Content-Length that promises more than is sent: the server closes mid-body.
    return Response(b'{"half', headers={"Content-Length": "100"})


APP = Starlette(routes=[
    Route("/echo", echo, methods=["GET", "POST"]),
    Route("/status/{code}", status, methods=["POST"]),
    Route("/slow", slow),
    Route("/gzip", zipped),
    Route("/cut", cut),
])


@pytest.fixture(scope="module")
async def server_url() -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="off",
                                            log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with async_client(server_url, timeout=httpx.Timeout(5.0, connect=2.0),
                            headers={"Authorization": "Bearer t0ken"}) as c:
        yield c


async def test_json_post_with_query_and_headers_arrives_whole(
        client: httpx.AsyncClient) -> None:
    response = await call(client, "POST", "/echo", system="crm", correlation_id="corr-1",
                          json={"amount": "12.50", "name": "Zoë"}, params={"q": "a b&c"})
    seen = response.json()
    assert seen["method"] == "POST" and seen["path"] == "/echo"
    assert seen["query"] == {"q": "a b&c"}
    assert seen["body"] == {"amount": "12.50", "name": "Zoë"}
    assert seen["headers"]["authorization"] == "Bearer t0ken"
    assert seen["headers"]["x-correlation-id"] == "corr-1"
    assert seen["headers"]["content-type"] == "application/json"
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"


async def test_pooled_connections_carry_many_concurrent_requests(
        client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(client.get("/echo", params={"n": str(n)})
                                     for n in range(300)))
    assert [a.json()["query"]["n"] for a in answers] == [str(n) for n in range(300)]


async def test_error_statuses_reach_the_adapter_with_their_body_and_headers(
        client: httpx.AsyncClient) -> None:
    with pytest.raises(RejectedError, match="409: already posted"):
        await call(client, "POST", "/status/409", system="erp", correlation_id="c")
    response = await client.post("/status/429")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"


async def test_gzip_bodies_are_decoded_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/gzip")
    assert response.json() == {"zipped": True}


async def test_a_read_timeout_is_httpx_s_and_transient(server_url: str) -> None:
    async with async_client(server_url, timeout=httpx.Timeout(0.2, connect=2.0)) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/slow", params={"s": "1"})
        with pytest.raises(UnavailableError, match="timed out"):
            await call(c, "GET", "/slow", system="tax", correlation_id="c",
                       params={"s": "1"})
        assert (await c.get("/slow", params={"s": "0"})).json() == {"late": True}


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with async_client(f"http://127.0.0.1:{port}", timeout=2.0) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/echo")
        with pytest.raises(UnavailableError, match="ConnectError"):
            await call(c, "GET", "/echo", system="erp", correlation_id="c")


async def test_a_connection_dropped_mid_body_is_a_transport_error(
        client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.TransportError):
        await client.get("/cut")
    # The pool drops the broken connection: the next request goes through.
    assert (await client.get("/echo")).status_code == 200

