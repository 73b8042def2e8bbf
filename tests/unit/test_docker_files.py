"""The production-style compose files stay valid and in step with the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from settings import Settings
from workflows.search import ALL_KEYS

DOCKER = Path(__file__).parents[2] / "docker"


def test_the_cluster_registers_every_search_attribute_the_workflows_upsert() -> None:
    script = (DOCKER / "register-search-attributes.sh").read_text()
    registered = dict(re.findall(r"(\w+)=(KeywordList|Keyword|Double|Datetime|Int|Bool|Text)\b",
                                 script))
    types = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList", "DOUBLE": "Double",
             "DATETIME": "Datetime"}
    assert registered == {k.name: types[k.indexed_value_type.name] for k in ALL_KEYS}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
        env={**os.environ, "POSTGRES_PASSWORD": "test"}, capture_output=True, text=True,
        check=False)
    assert result.returncode == 0, result.stderr


def test_prometheus_scrapes_the_temporal_server_where_compose_serves_its_metrics() -> None:
    compose = (DOCKER / "compose.yaml").read_text()
    served = re.search(r"PROMETHEUS_ENDPOINT:\s*0\.0\.0\.0:(\d+)", compose)
    assert served, "the temporal service serves no metrics"
    scraped = re.findall(r'"temporal:(\d+)"', (DOCKER / "prometheus.yml").read_text())
    # the same port as the embedded dev server's, so dashboards work against either
    default = Settings.model_fields["temporal_metrics_port"].default
    assert scraped == [served.group(1)] == [str(default)]


def test_the_image_holds_every_module_and_package_the_code_imports() -> None:
    """pyproject's modules and packages are what `pip install -e .` in the image needs, and
    what the processes import: the Dockerfile must copy each (it missed the payload
    converter, the event loop and the worker's GC module until the twenty-fourth session)."""
    root = DOCKER.parent
    copied = set()
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                copied |= {p.relative_to(root).as_posix() for p in root.glob(source)}
    modules = {p.name for p in root.glob("*.py")}
    packages = {"canonical", "adapters", "activities", "workflows", "gateway", "devstack",
                "cli", "observability", "security", "config"}
    assert modules <= copied and packages <= copied
