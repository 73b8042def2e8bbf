"""Child processes of the local stack: start with a log file, record, wait for, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Proc:
    name: str
    pid: int
    command: list[str]
    log: str
    address: str = ""


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if not alive(proc.pid):
            raise RuntimeError(f"{proc.name} exited during start-up; see {proc.log}:\n"
                               + tail(proc.log))
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} did not listen on {host}:{port} within {timeout:.0f}s; "
                       f"see {proc.log}")


def tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start(name: str, command: list[str], log_dir: Path, env: dict[str, str],
          address: str = "") -> Proc:
    """Start in its own session (so stop() reaches its children too), output to a log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        p = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    return Proc(name=name, pid=p.pid, command=command, log=str(log), address=address)


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `make up`): fall back to kill 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(proc: Proc, timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(proc.pid):
                return
            time.sleep(0.1)


class Registry:
    """The record of what `up` started, so `down` stops exactly that."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Proc]:
        if not self.path.exists():
            return []
        return [Proc(**p) for p in json.loads(self.path.read_text())["processes"]]

    def save(self, procs: list[Proc]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"processes": [asdict(p) for p in procs]}, indent=2))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
