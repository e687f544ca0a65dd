"""Scheduling a catalogue: order kept, light scenarios side by side, heavy ones alone, restarts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from harness.errors import EnvironmentProblem
from harness.history import History
from harness.results import ScenarioRun
from harness.scenario import Scenario
from harness.schedule import SHARED_CLIENT_LIMIT, run_scenarios


@dataclass
class FakeAPI:
    fail: bool = False
    restarts: int = 0

    async def restart(self) -> None:
        if self.fail:
            raise EnvironmentProblem("toxiproxy-server failed to start: boom")
        self.restarts += 1


@dataclass
class FakeRunner:
    """Records which scenarios overlapped; a scenario named 'wedge' finds Toxiproxy unavailable."""

    api: FakeAPI = field(default_factory=FakeAPI)
    running: set[str] = field(default_factory=set)
    overlaps: list[set[str]] = field(default_factory=list)
    restarts_seen: dict[str, int] = field(default_factory=dict)

    async def restart_toxiproxy(self) -> None:
        await self.api.restart()

    async def run(self, scenario: Scenario, _on_progress: object) -> ScenarioRun:
        self.running.add(scenario.name)
        self.overlaps.append(set(self.running))
        self.restarts_seen[scenario.name] = self.api.restarts
        await asyncio.sleep(0.02)
        self.running.discard(scenario.name)
        run = ScenarioRun(scenario.name, "", History())
        if scenario.name == "wedge":
            run.error, run.toxiproxy_unavailable = "toxiproxy answered 503: busy", True
        return run


def scenario(name: str, clients: int = 1, kind: str = "http") -> Scenario:
    return Scenario.model_validate({"name": name, "description": "d", "clients": {"count": clients, "kind": kind}})


async def schedule(runner: FakeRunner, scenarios: list[Scenario], parallel: int = 2) -> list[ScenarioRun]:
    done: list[str] = []
    runs = await run_scenarios(runner, scenarios, parallel, lambda _s: None, lambda r: done.append(r.name))
    assert sorted(done) == sorted(runner.restarts_seen)  # on_done saw every scenario that ran
    return runs


@pytest.mark.asyncio
async def test_results_keep_order_and_light_scenarios_overlap() -> None:
    runner = FakeRunner()
    runs = await schedule(runner, [scenario(n) for n in "abcd"])
    assert [run.name for run in runs] == list("abcd")
    assert max(len(overlap) for overlap in runner.overlaps) == 2


@pytest.mark.asyncio
async def test_a_scenario_with_many_clients_runs_alone() -> None:
    runner = FakeRunner()
    await schedule(runner, [scenario("a"), scenario("heavy", SHARED_CLIENT_LIMIT + 1), scenario("b")])
    assert all(overlap == {"heavy"} for overlap in runner.overlaps if "heavy" in overlap)


@pytest.mark.asyncio
async def test_a_scenario_with_browser_clients_runs_alone() -> None:
    runner = FakeRunner()
    await schedule(runner, [scenario("a"), scenario("browser", kind="browser"), scenario("b")])
    assert all(overlap == {"browser"} for overlap in runner.overlaps if "browser" in overlap)


@pytest.mark.parametrize(
    ("clients", "faults"),
    [
        ({"kind": "browser", "count": 9}, []),
        (
            {"kind": "browser"},
            [{"at": 0, "action": "reset_peer", "sweep": {"attribute": "timeout", "start": 0, "stop": 3}}],
        ),
    ],
)
def test_browser_clients_are_few_and_never_swept(clients: dict[str, object], faults: list[dict[str, object]]) -> None:
    with pytest.raises(ValueError, match="browser clients: at most 8, and no sweep"):
        Scenario.model_validate({"name": "b", "description": "d", "clients": clients, "faults": faults})


@pytest.mark.asyncio
async def test_toxiproxy_is_restarted_before_the_next_scenario() -> None:
    runner = FakeRunner()
    runs = await schedule(runner, [scenario("wedge"), scenario("next")], parallel=1)
    assert runner.api.restarts == 1
    assert runner.restarts_seen == {"wedge": 0, "next": 1}
    assert runs[1].error is None


@pytest.mark.asyncio
async def test_a_failed_restart_marks_the_rest_not_run() -> None:
    runner = FakeRunner(api=FakeAPI(fail=True))
    runs = await schedule(runner, [scenario("wedge"), scenario("next"), scenario("last")], parallel=1)
    assert [run.name for run in runs] == ["wedge", "next", "last"]
    assert runs[1].error == runs[2].error == "not run: toxiproxy-server failed to start: boom"
