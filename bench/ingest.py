"""Ingest benchmark: signed Stripe webhooks into the gateway's inbox, on SQLite and PostgreSQL.

Starts the gateway (`python -m gateway`, one uvicorn process) on a free loopback port for
each store, posts N signed Stripe `invoice.finalized` webhooks (plus a share of
redeliveries) over keep-alive connections, and reports accepted requests per second and
p50/p99 latency. Each 2xx means the inbox row was committed before the answer. At the end
it checks the store: every unique event is in the inbox exactly once with its canonical
event queued once, every redelivery was answered as a duplicate — no event lost or doubled.

Temporal is deliberately absent (the forwarder backs off), so this measures intake alone.
Results go to bench/results/ingest-<date>.json; docs/performance.md records them.

    python bench/ingest.py                      # both stores, 5000 events
    python bench/ingest.py --events 20000 --stores postgresql --json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from devstack import stripe_events as se  # noqa: E402
from gateway.signatures import sign  # noqa: E402
from gateway.store import ForwardItem, InboxMessage  # noqa: E402

SECRET = "whsec_bench"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CUSTOMER = "cus_R2mGlobexAG01"  # in config/stripe_customers.toml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhooks(n: int, tag: str) -> list[tuple[str, bytes, str]]:
    """(event id, body, Stripe-Signature) for n invoice.finalized webhooks, signed now."""
    price = se.price("price_1BenchTeam", "prod_BenchTeam", 49000, "eur")
    start = se.unix(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    out = []
    for i in range(n):
        sub, inv = f"sub_bench_{tag}_{i % 500}", f"in_bench_{tag}_{i}"
        line = se.invoice_line(f"il_bench_{tag}_{i}", inv, sub, 49000, "eur", start,
                               start + 31 * 86400, price_id=price["id"],
                               product="prod_BenchTeam", tax=(9310, 49000, "txr_bench"))
        obj = se.invoice(inv, CUSTOMER, sub, "eur", [line], status="open",
                         billing_reason="subscription_cycle", finalized_at=start + i)
        evt_id = f"evt_bench_{tag}_{i}"
        body = json.dumps(se.event(evt_id, "invoice.finalized", start + i, obj)).encode()
        out.append((evt_id, body, sign(body, SECRET)))
    return out


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection (the load must not be the bottleneck)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}", "Content-Type: application/json",
                *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        self.writer.close()


async def drive(port: int, requests: list[tuple[str, bytes, str]],
                concurrency: int) -> tuple[float, list[float], list[tuple[str, int, bytes]]]:
    queue: asyncio.Queue[tuple[str, bytes, str]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    answers: list[tuple[str, int, bytes]] = []

    async def worker() -> None:
        conn = Connection("127.0.0.1", port)
        await conn.open()
        try:
            while not queue.empty():
                evt_id, body, signature = queue.get_nowait()
                began = time.perf_counter()
                status, payload = await conn.post("/v1/webhooks/stripe", body,
                                                  {"Stripe-Signature": signature})
                latencies.append(time.perf_counter() - began)
                answers.append((evt_id, status, payload))
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, answers


def start_gateway(store_url: str | None, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASHLOOP_GATEWAY_PORT": str(port), "CASHLOOP_DATA_DIR": str(data_dir),
           "CASHLOOP_STRIPE_WEBHOOK_SECRETS": SECRET, "CASHLOOP_API_KEYS": "bench:bench-key",
           "CASHLOOP_TEMPORAL_PORT": str(free_port()), "CASHLOOP_RESEQUENCE_WINDOW_S": "0"}
    env.pop("CASHLOOP_DATABASE_URL", None)
    if store_url:
        env["CASHLOOP_DATABASE_URL"] = store_url
    log = (data_dir / "gateway.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited; see {data_dir / 'gateway.log'}")
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError("gateway did not start")


def check_store(url: str, unique: set[str]) -> dict[str, Any]:
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(schema_translate_map={None: "gateway"})
    with Session(engine) as s:
        ids = [r[0] for r in s.execute(select(col(InboxMessage.source_event_id))).all()]
        queued = s.execute(select(func.count()).select_from(ForwardItem)).scalar_one()
    engine.dispose()
    return {"inbox_rows": len(ids), "distinct": len(set(ids)),
            "lost": len(unique - set(ids)), "unexpected": len(set(ids) - unique),
            "forward_rows": int(queued)}


def pg_database(base_url: str, name: str, create: bool) -> str:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    tag = f"{store[:2]}{os.getpid()}"
    data_dir = Path(tempfile.mkdtemp(prefix=f"cashloop-bench-{store}-"))
    db_name = f"cashloop_bench_{os.getpid()}"
    url = (pg_database(args.postgres_url, db_name, True) if store == "postgresql"
           else f"sqlite:///{data_dir / 'stores' / 'gateway.db'}")
    unique = webhooks(args.events, tag)
    redeliveries = unique[:: max(1, round(1 / args.duplicates))] if args.duplicates else []
    requests = unique + redeliveries
    port = free_port()
    proc = start_gateway(url if store == "postgresql" else None, data_dir, port)
    try:
        warm = webhooks(50, f"w{tag}")
        asyncio.run(drive(port, warm, 8))
        elapsed, latencies, answers = asyncio.run(drive(port, requests, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    statuses: dict[int, int] = {}
    for _, status, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    duplicates = sum(json.loads(p).get("duplicate") is True for _, s, p in answers if s == 200)
    store_check = check_store(url, {e for e, _, _ in unique} | {e for e, _, _ in warm})
    if store == "postgresql":
        pg_database(args.postgres_url, db_name, False)
    accepted = statuses.get(202, 0) + statuses.get(200, 0)
    ok = (statuses.get(202, 0) == len(unique) and duplicates == len(redeliveries)
          and accepted == len(requests) and store_check["lost"] == 0
          and store_check["unexpected"] == 0
          and store_check["inbox_rows"] == store_check["distinct"] == len(unique) + len(warm)
          and store_check["forward_rows"] == len(unique) + len(warm))
    ms = sorted(x * 1000 for x in latencies)
    return {"store": store, "requests": len(requests), "unique_events": len(unique),
            "redeliveries": len(redeliveries), "concurrency": args.concurrency,
            "elapsed_s": round(elapsed, 3), "accepted_per_s": round(accepted / elapsed, 1),
            "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            "max_ms": round(ms[-1], 2), "statuses": statuses, "store_check": store_check,
            "body_bytes": len(unique[0][1]), "no_loss_no_double": ok}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=5000, help="unique webhooks (default 5000)")
    p.add_argument("--duplicates", type=float, default=0.1,
                   help="share of redeliveries added (default 0.1)")
    p.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    p.add_argument("--stores", default="sqlite,postgresql")
    p.add_argument("--postgres-url", default=os.environ.get("CASHLOOP_TEST_POSTGRES_URL",
                                                             DEFAULT_PG))
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    results = [run_store(s.strip(), args) for s in args.stores.split(",") if s.strip()]
    now = dt.datetime.now(dt.UTC)
    report = {"benchmark": "ingest", "date": now.isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "results": results}
    out = ROOT / "bench" / "results" / f"ingest-{now.date().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'store':<11} {'requests':>8} {'accepted/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'max ms':>7}  no loss, no double")
        for r in results:
            print(f"{r['store']:<11} {r['requests']:>8} {r['accepted_per_s']:>10} "
                  f"{r['p50_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7}  "
                  f"{'yes' if r['no_loss_no_double'] else 'NO: ' + json.dumps(r['store_check'])}")
        print(f"written to {out.relative_to(ROOT)}")
    return 0 if all(r["no_loss_no_double"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
