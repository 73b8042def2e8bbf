"""Fault settings, the token bucket and the fault middleware (in process, no network)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from adapters.sandbox.common import new_app
from adapters.sandbox.faults import FaultInjector, FaultSettings, TokenBucket, env_var


def test_defaults_inject_nothing() -> None:
    injector = FaultInjector()
    assert all(injector.draw() is None for _ in range(100))
    assert injector.throttle() is None


@pytest.mark.parametrize("bad", [
    {"error_rate": -0.1}, {"error_rate": 1.5}, {"error_kinds": ["418"]}, {"error_kinds": []},
    {"error_phase": "during"}, {"latency_ms": -1}, {"rps_limit": 0}, {"max_concurrency": 0},
    {"hang_ms": -5}, {"surprise": 1},
])
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        FaultSettings.model_validate(bad)


def test_error_kinds_are_deduplicated() -> None:
    assert FaultSettings(error_kinds=["503", "503", "429"]).error_kinds == ["503", "429"]


def test_settings_come_from_the_service_env_var() -> None:
    assert env_var("erp-legacy") == "CASHLOOP_FAULTS_ERP_LEGACY"
    env = {"CASHLOOP_FAULTS_ERP_LEGACY": '{"rps_limit": 25, "max_concurrency": 5}'}
    settings = FaultSettings.from_env("erp-legacy", env)
    assert (settings.rps_limit, settings.max_concurrency) == (25, 5)
    assert FaultSettings.from_env("crm", env) == FaultSettings()


def test_merged_keeps_unchanged_fields() -> None:
    merged = FaultSettings(latency_ms=5).merged({"error_rate": 0.5})
    assert (merged.latency_ms, merged.error_rate) == (5, 0.5)
    with pytest.raises(ValidationError):
        FaultSettings().merged({"error_rate": 3})


def test_seeded_draws_repeat() -> None:
    settings = FaultSettings(error_rate=0.5, error_phase="mixed", seed=42)
    first, second = FaultInjector(settings), FaultInjector(settings)
    draws = [first.draw() for _ in range(50)]
    assert draws == [second.draw() for _ in range(50)]
    assert {d[1] for d in draws if d} == {"before", "after"}


def test_error_rate_one_always_faults_with_the_chosen_kind() -> None:
    injector = FaultInjector(FaultSettings(error_rate=1.0, error_kinds=["503"]))
    assert {injector.draw() for _ in range(20)} == {("503", "before")}


def test_token_bucket_refuses_beyond_its_burst() -> None:
    bucket = TokenBucket(rate=0.001)  # one token, refilled after ~1000 s
    assert bucket.take() == 0.0
    assert bucket.take() > 1.0


def test_concurrency_limit_counts_requests_in_flight() -> None:
    injector = FaultInjector(FaultSettings(max_concurrency=2))
    injector.in_flight = 2
    assert injector.throttle() == 1.0
    injector.in_flight = 1
    assert injector.throttle() is None


def _counter_app(settings: FaultSettings) -> tuple[FastAPI, list[int]]:
    app = new_app("unit", settings)
    done: list[int] = []

    @app.post("/work")
    def work() -> dict[str, int]:
        done.append(1)
        return {"done": len(done)}

    return app, done


async def _post(app: FastAPI, path: str = "/work") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://unit") as client:
        return await client.post(path)


async def test_after_phase_does_the_work_then_answers_the_error() -> None:
    app, done = _counter_app(FaultSettings(error_rate=1, error_kinds=["500"],
                                           error_phase="after"))
    response = await _post(app)
    assert (response.status_code, response.json()["type"]) == (500, "injected_fault")
    assert done == [1]


async def test_before_phase_fails_without_side_effect() -> None:
    app, done = _counter_app(FaultSettings(error_rate=1, error_kinds=["503"]))
    assert (await _post(app)).status_code == 503
    assert done == []


async def test_rate_limited_answer_has_retry_after_and_is_counted() -> None:
    app, _ = _counter_app(FaultSettings(rps_limit=0.001))
    assert (await _post(app)).status_code == 200
    limited = await _post(app)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    stats = app.state.injector.stats.snapshot()
    assert (stats["requests"], stats["rate_limited"], stats["by_status"]) == (
        2, 1, {"200": 1, "429": 1})
