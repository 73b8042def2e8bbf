"""The forwarder's budget: signals per reading of the engine's workflow-task backlog."""

from __future__ import annotations

from typing import Any, cast

import pytest
from temporalio.client import Client

from gateway import engine_backlog
from gateway.engine_backlog import EngineBacklog, Reading
from tests.unit.fakes import Clock

CLIENT = cast(Client, object())  # a stand-in: the fake server below never uses the client


class Server:
    """Backlog readings answered in turn (an exception: a failed reading), and what was asked."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.asked: list[str] = []

    async def read(self, client: object, task_queue: str) -> Reading:
        self.asked.append(task_queue)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    fake = Server()
    monkeypatch.setattr(engine_backlog, "workflow_task_stats", fake.read)
    return fake


def gated(server: Server, readings: list[Any], *, limit: int, refresh_s: float,
          queue: str = "q") -> tuple[EngineBacklog, Clock]:
    """A gate on a fake clock, and the readings the server will answer it."""
    server.answers.extend(readings)
    clock = Clock()
    return EngineBacklog(queue, limit=limit, refresh_s=refresh_s, clock=clock), clock


async def test_no_limit_forwards_without_reading(server: Server) -> None:
    gate = EngineBacklog("q", limit=0)
    assert await gate.budget(CLIENT) is None
    assert server.asked == [] and gate.last_reading is None


async def test_the_budget_is_the_room_left_until_the_next_reading(server: Server) -> None:
    gate, clock = gated(server, [Reading(120, 0.0), Reading(310, 0.0)], limit=300,
                        refresh_s=2.0, queue="entities")
    assert await gate.budget(CLIENT) == 180
    gate.spend(150)
    assert await gate.budget(CLIENT) == 30  # same reading: no second request
    gate.spend(30)
    assert await gate.budget(CLIENT) == 0
    assert gate.held_rounds == 1 and server.asked == ["entities"]
    clock.now += 2.0
    assert await gate.budget(CLIENT) == 0  # the engine fell further behind
    assert gate.last_reading == Reading(310, 0.0) and gate.held_rounds == 2
    assert server.asked == ["entities", "entities"]


async def test_an_overspent_budget_holds_until_the_next_reading(server: Server) -> None:
    gate, clock = gated(server, [Reading(0, 0.0), Reading(4, 0.0)], limit=10, refresh_s=1.0)
    assert await gate.budget(CLIENT) == 10
    gate.spend(25)
    assert await gate.budget(CLIENT) == 0
    clock.now += 1.0
    assert await gate.budget(CLIENT) == 6 + 2 * 25  # room, and the engine kept up


async def test_a_failed_reading_forwards_as_if_the_engine_kept_up(server: Server) -> None:
    gate, clock = gated(server, [RuntimeError("unavailable"), Reading(50, 0.0)], limit=50,
                        refresh_s=1.0)
    assert await gate.budget(CLIENT) == 50
    assert gate.last_reading is None
    clock.now += 1.0
    assert await gate.budget(CLIENT) == 0
    assert gate.last_reading == Reading(50, 0.0)


async def test_the_engine_is_fed_at_the_pace_it_drains(server: Server) -> None:
    gate, clock = gated(server, [Reading(100, 24.5), Reading(250, 24.5), Reading(400, 10.0)],
                        limit=100, refresh_s=5.0)
    assert await gate.budget(CLIENT) == 122  # at the limit: what 5 s of draining frees
    clock.now += 5.0
    assert await gate.budget(CLIENT) == 0  # 150 over the limit: more than 5 s frees
    clock.now += 5.0
    assert await gate.budget(CLIENT) == 0


async def test_a_stream_the_engine_keeps_up_with_is_offered_twice_as_much(
        server: Server) -> None:
    # its tasks go to the worker's sticky queue: this queue stays empty and idle
    idle = Reading(0, 0.0)
    gate, clock = gated(server, [idle, idle, idle, Reading(180, 0.0)], limit=100,
                        refresh_s=5.0)
    assert await gate.budget(CLIENT) == 100
    gate.spend(100)
    clock.now += 5.0
    assert await gate.budget(CLIENT) == 300
    gate.spend(250)
    clock.now += 5.0
    assert await gate.budget(CLIENT) == 600
    gate.spend(600)
    clock.now += 5.0
    assert await gate.budget(CLIENT) == 0  # tasks spilled here: over the limit
