"""Run the sandbox systems: `python -m adapters.sandbox.serve [--only crm,tax,...]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import uvicorn
from sqlalchemy import Engine
from starlette.types import ASGIApp

from canonical.accounts import LegalEntity

from .crm_service import create_crm_app
from .db import make_engine
from .erp_service import create_erp_app
from .faults import FaultSettings
from .payments_service import create_payments_app
from .provisioning_service import create_provisioning_app
from .rates_service import create_rates_app
from .tax_service import create_tax_app

if TYPE_CHECKING:
    from settings import Settings

# Every sandbox `serve` starts by default, in this order.
SERVICES: tuple[str, ...] = ("crm", "tax", "provisioning", "payments", "erp-legacy",
                             "erp-cloud", "rates")

AppBuilder = Callable[[str, Engine, Mapping[str, LegalEntity], FaultSettings | None], ASGIApp]

BUILDERS: dict[str, AppBuilder] = {
    "crm": lambda name, engine, entities, faults: create_crm_app(
        engine, entities, faults=faults, name=name),
    "tax": lambda name, engine, _entities, faults: create_tax_app(
        engine, faults=faults, name=name),
    "provisioning": lambda name, engine, _entities, faults: create_provisioning_app(
        engine, faults=faults, name=name),
    # Every instance whose name starts with "erp" (erp-legacy, erp-cloud, erp-test-1f2e).
    "erp": lambda name, engine, entities, faults: create_erp_app(
        name, engine, entities, faults=faults),
    "rates": lambda name, _engine, _entities, faults: create_rates_app(faults=faults, name=name),
    "payments": lambda name, engine, _entities, faults: create_payments_app(
        engine, faults=faults, name=name),
}


def kind_of(name: str) -> str:
    """The kind of sandbox a service name runs: "erp" for erp-*, else the name itself."""
    kind = "erp" if name.startswith("erp") else name
    if kind not in BUILDERS:
        raise ValueError(f"unknown sandbox {name!r}; known: {', '.join(SERVICES)} (or erp-*)")
    return kind


def store_name(name: str) -> str:
    """The store (file or schema) name of a service: erp-legacy -> erp_legacy."""
    return name.replace("-", "_")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to its host (several share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class _Sandbox:
    name: str
    url: str
    server: _Server
    sock: socket.socket
    engine: Engine
    task: asyncio.Task[None] | None = None


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _prepare(name: str, host: str, port: int, store_url: str,
             entities: Mapping[str, LegalEntity], faults: FaultSettings | None) -> _Sandbox:
    engine = make_engine(store_url, store_name(name))
    try:
        app = BUILDERS[kind_of(name)](name, engine, entities, faults)
        sock = _bind(host, port)
    except BaseException:
        engine.dispose()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    # log_config=None: uvicorn logs through the process's (masked, structured) logging.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5, log_config=None)
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return _Sandbox(name, f"http://{url_host}:{bound_port}", _Server(config), sock, engine)


async def _start(sandboxes: list[_Sandbox]) -> None:
    for sb in sandboxes:
        sb.task = asyncio.create_task(sb.server.serve(sockets=[sb.sock]), name=f"sandbox-{sb.name}")
    while not all(sb.server.started for sb in sandboxes):
        failed = [sb for sb in sandboxes if sb.task is not None and sb.task.done()]
        if failed:
            await _stop(sandboxes)
            raise RuntimeError(f"sandbox {failed[0].name} failed to start")
        await asyncio.sleep(0.01)


async def _stop(sandboxes: list[_Sandbox]) -> None:
    for sb in sandboxes:
        sb.server.should_exit = True
    for sb in sandboxes:
        if sb.task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await sb.task
        sb.sock.close()
        sb.engine.dispose()


def _address(url_or_port: str | int) -> tuple[str, int]:
    if isinstance(url_or_port, int):
        return "127.0.0.1", url_or_port
    parts = urlsplit(url_or_port)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"sandbox URL needs a host and a port: {url_or_port!r}")
    return parts.hostname, parts.port


@contextlib.asynccontextmanager
async def running_sandboxes(
    urls_or_ports: Mapping[str, str | int] | Iterable[str],
    store_url_factory: Callable[[str], str],
    entities: Mapping[str, LegalEntity],
    faults: Mapping[str, FaultSettings] | None = None,
) -> AsyncIterator[dict[str, str]]:
    """Run sandboxes as uvicorn servers in the current event loop; yields {name: base_url}.

    Args:
        urls_or_ports: service name -> base URL or port (0 = any free port, on
            127.0.0.1); a plain list of names means free ports for all.
        store_url_factory: store name (`erp_legacy`) -> SQLAlchemy URL.
        entities: legal entities for the CRM and the ERPs.
        faults: initial fault settings per service name.
    """
    targets = (dict(urls_or_ports) if isinstance(urls_or_ports, Mapping)
               else dict.fromkeys(urls_or_ports, 0))
    sandboxes: list[_Sandbox] = []
    try:
        for name, target in targets.items():
            host, port = _address(target)
            sandboxes.append(_prepare(name, host, port, store_url_factory(store_name(name)),
                                      entities, (faults or {}).get(name)))
        await _start(sandboxes)
        yield {sb.name: sb.url for sb in sandboxes}
    finally:
        await _stop(sandboxes)


async def _serve(names: list[str], settings: Settings) -> int:
    from observability.logging import configure_logging
    from observability.tracing import configure_tracing
    from settings import load_entities  # entry point only: libraries get arguments

    configure_logging(settings.log_format, settings.log_level, service="sandboxes")
    configure_tracing(settings.otel_exporter, "sandboxes")
    entities = load_entities(settings.entities_file)
    sandboxes: list[_Sandbox] = []
    try:
        for name in names:
            host, port = _address(settings.sandbox_url(name))
            sandboxes.append(_prepare(name, host, port, settings.store_url(store_name(name)),
                                      entities, FaultSettings.from_env(name)))
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc}", file=sys.stderr)
        await _stop(sandboxes)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await _start(sandboxes)
    for sb in sandboxes:
        print(f"sandbox {sb.name} listening on {sb.url}", flush=True)
    await stop.wait()
    await _stop(sandboxes)
    print("sandboxes stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description="Run the Cashloop sandbox systems.")
    parser.add_argument("--only", default=",".join(SERVICES),
                        help="comma-separated services to run (default: all)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        try:
            kind_of(name)
        except ValueError as exc:
            parser.error(str(exc))
    import event_loop
    from settings import Settings  # entry point only: libraries get arguments

    settings = Settings()
    return event_loop.run(_serve(names, settings), settings.event_loop)


if __name__ == "__main__":
    sys.exit(main())
