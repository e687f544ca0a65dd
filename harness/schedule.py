"""Runs a list of scenarios on one runner: light ones side by side, heavy ones alone.

Most scenarios spend their time waiting on timers (a cap, an outage, a heartbeat period), so
two at a time halve a catalogue's wall time without loading the machine; a scenario with many
clients, or with browser clients, runs alone so that its load never skews another scenario's
timing. A scenario that found Toxiproxy wedged or gone ends as an error, and the server is
restarted (when the harness owns it) before the next scenario starts.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Protocol

from harness.errors import HarnessError
from harness.history import History
from harness.results import ScenarioRun
from harness.scenario import Scenario

SHARED_CLIENT_LIMIT = 10


class ScenarioRunner(Protocol):
    async def run(self, scenario: Scenario, on_progress: Callable[[str], None] | None = None) -> ScenarioRun: ...

    async def restart_toxiproxy(self) -> None: ...


async def run_scenarios(
    runner: ScenarioRunner,
    scenarios: list[Scenario],
    parallel: int,
    on_start: Callable[[Scenario], Callable[[str], None] | None],
    on_done: Callable[[ScenarioRun], None],
) -> list[ScenarioRun]:
    """Runs every scenario; results in the order given. `on_start` may return a per-client
    progress callback; `on_done` sees each result as soon as it is known."""
    slots = asyncio.Semaphore(parallel)
    restart_needed = asyncio.Event()

    async def run_one(scenario: Scenario, held: int) -> ScenarioRun:
        try:
            result = await runner.run(scenario, on_start(scenario))
            if result.toxiproxy_unavailable:
                restart_needed.set()
            on_done(result)
            # A finished run's history (hundreds of thousands of records after a sweep) stays
            # for the report; frozen, the collector stops scanning it: full collections over it
            # paused the harness loop > 100 ms and skewed later scenarios' heartbeat timing.
            gc.freeze()
            return result
        finally:
            for _ in range(held):
                slots.release()

    tasks: list[asyncio.Task[ScenarioRun]] = []
    not_run: list[ScenarioRun] = []
    try:
        for index, scenario in enumerate(scenarios):
            held = parallel if _runs_alone(scenario) else 1
            for _ in range(held):
                await slots.acquire()
            if restart_needed.is_set():
                try:
                    await _restart_when_idle(runner, slots, parallel, held)
                except HarnessError as error:
                    not_run = [_not_run(rest, f"not run: {error}") for rest in scenarios[index:]]
                    break
                restart_needed.clear()
            tasks.append(asyncio.create_task(run_one(scenario, held)))
        return [*await asyncio.gather(*tasks), *not_run]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _runs_alone(scenario: Scenario) -> bool:
    """Many clients, a browser (its start-up takes a core for a while), or a deployment's processes
    (started, killed, restarted) would skew another scenario's timing."""
    return (
        scenario.client_count > SHARED_CLIENT_LIMIT
        or scenario.clients.kind == "browser"
        or scenario.deployment is not None
    )


async def _restart_when_idle(runner: ScenarioRunner, slots: asyncio.Semaphore, parallel: int, held: int) -> None:
    """Wait for every running scenario to end, then restart Toxiproxy."""
    for _ in range(parallel - held):
        await slots.acquire()
    try:
        await runner.restart_toxiproxy()
    finally:
        for _ in range(parallel - held):
            slots.release()


def _not_run(scenario: Scenario, reason: str) -> ScenarioRun:
    return ScenarioRun(scenario.name, scenario.description, History(), error=reason)
