"""The embedded local stack: what `make up` starts, in order, and how it is stopped.

Temporal dev server (SQLite file under the data dir, WAL + synchronous=normal: a
crash of the machine may lose the last moments of workflow state, a crash of the
process loses nothing; see docs/performance.md), then the codec server (the UI is
pointed at it with --ui-codec-endpoint), the sandbox systems, the ingestion gateway, then
the worker. Every port is a documented default overridable by environment variable.

Payloads are encrypted here as in production: unless CASHLOOP_CODEC_KEYS(_FILE) is set, a
DEVELOPMENT key is generated once into <data dir>/secrets/dev-codec-keys, and the codec
server takes the documented development token unless CASHLOOP_CODEC_TOKEN is set
(docs/security.md). The gateway takes the documented development signing secret and API
key unless CASHLOOP_STRIPE_WEBHOOK_SECRETS / CASHLOOP_API_KEYS are set (docs/gateway.md).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import SecretStr

from cli.cookbook import PARKED_NOW
from security.keys import dev_key_path, ensure_dev_key_file
from settings import (
    DEV_API_KEYS,
    DEV_STRIPE_WEBHOOK_SECRET,
    ERP_TARGETS,
    SANDBOX_OFFSETS,
    Settings,
)
from settings_secrets import Secrets, load_secrets
from workflows.search import dev_server_flags

from . import processes
from .binaries import temporal_cli
from .processes import Proc, Registry

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# The codec server's token on a development stack (docs/security.md); never in production.
DEV_CODEC_TOKEN = "cashloop-dev-codec-token"


def stack_secrets(settings: Settings) -> tuple[Secrets, list[str]]:
    """The secrets the local stack runs with, and notes saying which are development ones.

    Configured values win; otherwise a development key file (created once) and the
    development codec token are used, so the stack always exercises encryption.
    """
    secrets = load_secrets()
    update: dict[str, object] = {}
    notes = []
    if secrets.codec_keys is None and secrets.codec_keys_file is None:
        path = dev_key_path(settings.data_dir)
        created = ensure_dev_key_file(path)
        update["codec_keys_file"] = path
        notes.append(f"payload encryption: DEVELOPMENT key in {path}"
                     f"{' (generated now)' if created else ''} - not for real data; "
                     "production sets CASHLOOP_CODEC_KEYS_FILE")
    if secrets.codec_token is None:
        update["codec_token"] = SecretStr(DEV_CODEC_TOKEN)
        notes.append(f"codec server token: {DEV_CODEC_TOKEN} (DEVELOPMENT token; set "
                     "CASHLOOP_CODEC_TOKEN)")
    secrets = secrets.model_copy(update=update) if update else secrets
    ring = secrets.key_ring()
    notes.append(f"payloads encrypted with key {ring.current_id if ring else '?'}; the UI "
                 f"decodes them through http://{settings.host}:{settings.codec_port} "
                 f"(docs/security.md: sign in once at /login)")
    return secrets, notes


def secret_env(secrets: Secrets) -> dict[str, str]:
    """Environment variables handing the stack's codec secrets to child processes."""
    env = {}
    if secrets.codec_keys is not None:
        env["CASHLOOP_CODEC_KEYS"] = secrets.codec_keys.get_secret_value()
    if secrets.codec_keys_file is not None:
        env["CASHLOOP_CODEC_KEYS_FILE"] = str(secrets.codec_keys_file)
    if secrets.codec_token is not None:
        env["CASHLOOP_CODEC_TOKEN"] = secrets.codec_token.get_secret_value()
    return env


def registry(settings: Settings) -> Registry:
    return Registry(settings.data_dir / "run" / "stack.json")


# Settings that children must share with the process that starts them.
SHARED_SETTINGS = ("host", "temporal_port", "temporal_ui_port", "temporal_namespace",
                   "gateway_port", "sandbox_port", "codec_port", "worker_metrics_port",
                   "sdk_metrics_port", "task_queue", "erp_task_queue", "erp_max_rps",
                   "erp_max_concurrency", "erp_max_batch", "worker_max_cached_workflows",
                   "workflow_sandbox", "event_loop")


def child_env(settings: Settings, secrets: Secrets | None = None) -> dict[str, str]:
    """The environment of a stack process: ours, plus the settings this stack runs with."""
    env = dict(os.environ)
    env.update(secret_env(secrets) if secrets else {})
    for name in SHARED_SETTINGS:
        env[f"CASHLOOP_{name.upper()}"] = str(getattr(settings, name))
    env["CASHLOOP_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.flow_config_json:
        env["CASHLOOP_FLOW_CONFIG_JSON"] = settings.flow_config_json
    if settings.database_url:
        env["CASHLOOP_DATABASE_URL"] = settings.database_url.get_secret_value()
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def gateway_credentials(settings: Settings) -> tuple[Settings, list[str]]:
    """Settings with the documented development secret and API key where unset, and notes.

    Returns:
        (settings the gateway and its senders use, what was defaulted — to print)
    """
    notes, update = [], {}
    if not settings.webhook_secrets():
        update["stripe_webhook_secrets"] = DEV_STRIPE_WEBHOOK_SECRET
        notes.append("CASHLOOP_STRIPE_WEBHOOK_SECRETS is unset: the gateway uses the "
                     f"development signing secret {DEV_STRIPE_WEBHOOK_SECRET}")
    if not settings.api_key_map():
        update["api_keys"] = DEV_API_KEYS
        notes.append(f"CASHLOOP_API_KEYS is unset: the gateway uses the development key "
                     f"{DEV_API_KEYS} (source:key)")
    fields = {k: SecretStr(v) for k, v in update.items()}
    return settings.model_copy(update=fields), notes


def gateway_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.gateway_port}"


def temporal_command(settings: Settings) -> list[str]:
    cmd = [temporal_cli(), "server", "start-dev", "--ip", settings.host,
           "--port", str(settings.temporal_port), "--ui-port", str(settings.temporal_ui_port),
           "--db-filename", str((settings.data_dir / "temporal.db").resolve()),
           "--namespace", settings.temporal_namespace, "--log-level", "error",
           "--ui-disable-news-fetch",
           "--ui-codec-endpoint", f"http://{settings.host}:{settings.codec_port}",
           # benchmarks and the demo wait on many workflows at once
           "--dynamic-config-value", "frontend.namespaceCount=5000"]
    if settings.temporal_metrics_port:
        cmd += ["--metrics-port", str(settings.temporal_metrics_port)]
    for pragma in SQLITE_PRAGMAS:
        cmd += ["--sqlite-pragma", pragma]
    return cmd + dev_server_flags()


def finance_pointer(settings: Settings) -> list[str]:
    """What `make up` tells finance: the UI's address and where the cookbook queries are."""
    ui = (f"http://{settings.host}:{settings.temporal_ui_port}/namespaces/"
          f"{settings.temporal_namespace}/workflows")
    return [f"Temporal UI: {ui}",
            "  finance queries for its search box: docs/finance-cookbook.md, e.g. what is "
            f"parked:  {PARKED_NOW}",
            "  or run them here: python starter.py find parked|posted-today|"
            "renewals-awaiting-erp|..."]


def busy_ports(settings: Settings) -> list[int]:
    ports = [settings.temporal_port, settings.temporal_ui_port, settings.codec_port,
             settings.gateway_port]
    ports += [p for p in (settings.worker_metrics_port, settings.sdk_metrics_port,
                          settings.temporal_metrics_port) if p]
    ports += [settings.sandbox_port + off for off in SANDBOX_OFFSETS.values()]
    return [p for p in ports if processes.port_open(settings.host, p)]


def wait_healthy(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not processes.alive(proc.pid):
            raise RuntimeError(f"{proc.name} exited; see {proc.log}:\n{processes.tail(proc.log)}")
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name} not healthy at {url} within {timeout:.0f}s")


def sandbox_names() -> list[str]:
    return ["crm", "tax", "provisioning", "payments", *ERP_TARGETS, "rates"]


def stack_env(settings: Settings, extra_env: Mapping[str, str] | None = None
              ) -> tuple[dict[str, str], list[str]]:
    """The environment every stack process starts with, and notes on defaulted secrets.

    `extra_env` goes on top (e.g. CASHLOOP_FAULTS_ERP_LEGACY for a fault drill); a process
    restarted with the same environment joins the stack as the original did.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets, _notes = stack_secrets(settings)
    env = child_env(settings, secrets)
    credentials, notes = gateway_credentials(settings)
    env["CASHLOOP_STRIPE_WEBHOOK_SECRETS"] = ",".join(credentials.webhook_secrets())
    env["CASHLOOP_API_KEYS"] = ",".join(f"{s}:{k}" for s, k in
                                        credentials.api_key_map().items())
    env.update(extra_env or {})
    return env, notes


def up(settings: Settings, extra_env: Mapping[str, str] | None = None) -> list[Proc]:
    """Start the stack and record it; raises (after stopping what it started) on failure."""
    reg = registry(settings)
    if reg.load():
        raise RuntimeError(f"a stack is already recorded in {reg.path}; run `make down` first")
    busy = busy_ports(settings)
    if busy:
        raise RuntimeError(f"ports already in use on {settings.host}: {busy} "
                           "(another stack running? `make down`, or set CASHLOOP_*_PORT)")
    logs = settings.data_dir / "logs"
    env, notes = stack_env(settings, extra_env)
    for note in notes:
        print(note, flush=True)
    started: list[Proc] = []
    try:
        temporal = processes.start(
            "temporal", temporal_command(settings), logs, env,
            f"{settings.temporal_target} (UI http://{settings.host}:{settings.temporal_ui_port}"
            + (f"; metrics http://{settings.host}:{settings.temporal_metrics_port}/metrics)"
               if settings.temporal_metrics_port else ")"))
        started.append(temporal)
        processes.wait_for_port(settings.host, settings.temporal_port, temporal)
        processes.wait_for_port(settings.host, settings.temporal_ui_port, temporal)

        codec_url = f"http://{settings.host}:{settings.codec_port}"
        codec = processes.start("codec", [sys.executable, "-m", "security.codec_server"], logs,
                                env, f"{codec_url} (codec server for the UI; /login)")
        started.append(codec)
        wait_healthy(codec_url, codec)

        sandboxes = processes.start(
            "sandboxes", [sys.executable, "-m", "adapters.sandbox.serve"], logs, env,
            ", ".join(f"{n} {settings.sandbox_url(n)}" for n in sandbox_names()))
        started.append(sandboxes)
        for name in sandbox_names():
            wait_healthy(settings.sandbox_url(name), sandboxes)

        gateway = processes.start("gateway", [sys.executable, "-m", "gateway"], logs, env,
                                  f"{gateway_url(settings)} (POST /v1/events, "
                                  "/v1/webhooks/stripe; GET /v1/health)")
        started.append(gateway)
        wait_healthy(gateway_url(settings), gateway)

        metrics = ", ".join(f"http://{settings.host}:{p}/metrics" for p in
                            (settings.worker_metrics_port, settings.sdk_metrics_port) if p)
        seen = log_size(logs / "worker.log")  # a log kept from an earlier run is appended to
        worker = processes.start("worker", [sys.executable, "worker.py"], logs, env,
                                 f"task queues {settings.task_queue}, {settings.erp_task_queue}"
                                 + (f"; metrics {metrics}" if metrics else ""))
        started.append(worker)
        _wait_for_log(worker, WORKER_READY, offset=seen)
    except BaseException:
        for proc in reversed(started):
            processes.stop(proc)
        raise
    reg.save(started)
    return started


WORKER_READY = "worker polling"  # what worker.py prints once its workers poll


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait_for_log(proc: Proc, needle: str, timeout: float = 60.0, offset: int = 0) -> None:
    """Wait until `needle` appears in the log after byte `offset` (a restart appends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(proc.log, "rb") as log:
            log.seek(offset)
            if needle in log.read().decode(errors="replace"):
                return
        if not processes.alive(proc.pid):
            raise RuntimeError(f"{proc.name} exited; see {proc.log}:\n{processes.tail(proc.log)}")
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name} did not report '{needle}' within {timeout:.0f}s")


def down(settings: Settings) -> list[Proc]:
    """Stop exactly what `up` recorded, newest first."""
    reg = registry(settings)
    procs = reg.load()
    for proc in reversed(procs):
        processes.stop(proc)
    reg.clear()
    return procs
