"""The embedded dev server's command line as `make up` and the benchmarks start it."""

from __future__ import annotations

from pathlib import Path

from devstack.stack import temporal_command
from settings import Settings


def flag(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def test_the_server_serves_its_metrics_on_the_configured_port(tmp_path: Path) -> None:
    cmd = temporal_command(Settings(data_dir=tmp_path, temporal_metrics_port=19466))
    assert flag(cmd, "--metrics-port") == "19466"


def test_port_zero_leaves_the_metrics_port_to_the_server(tmp_path: Path) -> None:
    assert "--metrics-port" not in temporal_command(Settings(data_dir=tmp_path,
                                                             temporal_metrics_port=0))
