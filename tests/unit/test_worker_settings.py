"""The worker's settings refuse values it cannot run with, saying why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from settings import Settings


@pytest.mark.parametrize("cache", ["0", "-5"])
def test_a_worker_without_a_workflow_cache_is_refused(cache: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS", cache)
    with pytest.raises(ValidationError, match="MAX_CACHED_WORKFLOWS must be at least 1"):
        Settings()


def test_the_smallest_cache_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS", "1")
    assert Settings().worker_max_cached_workflows == 1
