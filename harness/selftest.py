"""`sse-chaos selftest`: proof, on the user's own machine, that the checks catch what they claim.

The correct reference server, then each seeded defect (reference_server/defects.py) in a server
of its own, plays the catalogue scenarios that expose it through the real Toxiproxy. The correct
server must pass every check; each defect must fail the check expected to catch it (other checks
may fail too: they are shown, they do not decide).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.checks import CHECKS, Status
from harness.errors import ConfigurationError, HarnessError
from harness.profile import DEFAULT_PROFILE
from harness.report import write_history
from harness.results import ScenarioRun
from harness.scenario import Scenario, find_scenarios, load_scenario
from harness.schedule import run_scenarios
from harness.session import SessionSettings, session
from reference_server.defects import DEFECTS, Defect

CORRECT = "correct"


class RowVerdict(StrEnum):
    PASSED = "passed"  # the correct server passed every check (or it was not applicable)
    FAILED = "failed"  # the correct server failed a check: the harness or the server is wrong
    CAUGHT = "caught"  # the defect's expected check failed
    MISSED = "missed"  # the defect's expected check did not fail
    ERROR = "error"  # a scenario could not run: says nothing of the checks


@dataclass(frozen=True)
class Row:
    """One server of the selftest: the correct one (`defect` None) or a seeded defect."""

    name: str
    defect: Defect | None
    scenarios: tuple[Scenario, ...]


@dataclass
class RowResult:
    row: Row
    runs: list[ScenarioRun] = field(default_factory=list)
    error: str | None = None  # the server or Toxiproxy could not start
    wall_seconds: float = 0.0

    def status(self, check: str) -> Status | None:
        """The check over the row's scenarios: failed in any, else passed in any, else not applicable;
        None when no scenario judged it."""
        found = {result.status for run in self.runs for result in run.results if result.name == check}
        return next((status for status in (Status.FAIL, Status.PASS, Status.NOT_APPLICABLE) if status in found), None)

    @property
    def errors(self) -> list[str]:
        return [self.error] if self.error else [f"{run.name}: {run.error}" for run in self.runs if run.error]

    @property
    def as_expected(self) -> bool:
        return self.verdict in (RowVerdict.PASSED, RowVerdict.CAUGHT)

    @property
    def verdict(self) -> RowVerdict:
        if self.errors:
            return RowVerdict.ERROR
        if self.row.defect is None:
            return RowVerdict.PASSED if all(run.passed for run in self.runs) else RowVerdict.FAILED
        return RowVerdict.CAUGHT if self.status(self.row.defect.check) == Status.FAIL else RowVerdict.MISSED

    def findings(self) -> list[str]:
        """What went other than expected, one line each: an error, a check the correct server
        failed, the verdicts of a missed defect's expected check."""
        name, verdict = self.row.name, self.verdict
        if verdict == RowVerdict.ERROR:
            return [f"{name}: error: {error}" for error in self.errors]
        results = [(run.name, result) for run in self.runs for result in run.results]
        if verdict == RowVerdict.FAILED:
            shown = [(scenario, r) for scenario, r in results if r.status == Status.FAIL]
        elif verdict == RowVerdict.MISSED:
            assert self.row.defect is not None
            shown = [(scenario, r) for scenario, r in results if r.name == self.row.defect.check]
        else:
            shown = []
        return [f"{name}: {scenario}: {r.name} {r.status.value}: {r.detail}" for scenario, r in shown]


def plan_rows(names: list[str], skipped: Collection[str] = ()) -> list[Row]:
    """The correct server, then the named defects (all when none is named) but the skipped ones,
    each with its scenarios; the correct server plays every scenario the defects need."""
    unknown = [name for name in [*names, *skipped] if name not in DEFECTS]
    if unknown:
        raise ConfigurationError(f"no seeded defect {unknown[0]!r} (known: {', '.join(DEFECTS)})")
    defects = [DEFECTS[name] for name in dict.fromkeys(names or DEFECTS) if name not in skipped]
    if not defects:
        raise ConfigurationError("every chosen defect is skipped: nothing to prove")
    needed = list(dict.fromkeys(name for defect in defects for name in defect.scenarios))
    scenarios = {scenario.name: scenario for scenario in map(load_scenario, find_scenarios(needed))}
    rows = [Row(CORRECT, None, tuple(scenarios[name] for name in needed))]
    return rows + [Row(d.name, d, tuple(scenarios[name] for name in d.scenarios)) for d in defects]


async def run_rows(
    rows: list[Row], parallel: int, report_dir: Path, on_done: Callable[[RowResult], None]
) -> list[RowResult]:
    """Every row, `parallel` at a time, each in its directory `report_dir / row.name` (made by
    `plan_rows`'s caller); results in the order given."""
    slots = asyncio.Semaphore(parallel)

    async def one(row: Row) -> RowResult:
        async with slots:
            result = await _run_row(row, report_dir / row.name)
        on_done(result)
        return result

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(row)) for row in rows]
    return [task.result() for task in tasks]


async def _run_row(row: Row, row_dir: Path) -> RowResult:
    """The row's server (with its defect seeded), its own Toxiproxy, its scenarios one by one."""
    defect = row.defect.name if row.defect is not None else None
    settings = SessionSettings(None, DEFAULT_PROFILE, {}, "fast", row_dir, row_dir, defect=defect)
    result = RowResult(row)
    started = time.monotonic()
    try:
        async with session(settings) as runner:
            saved = partial(write_history, row_dir)
            result.runs = await run_scenarios(runner, list(row.scenarios), 1, lambda _scenario: None, saved)
    except HarnessError as error:
        result.error = str(error)
    result.wall_seconds = time.monotonic() - started
    return result


def exit_status(results: list[RowResult]) -> int:
    """0 when the correct server passed and every defect was caught, 2 when any row could not run, else 1."""
    if any(result.verdict == RowVerdict.ERROR for result in results):
        return 2
    return 0 if all(result.as_expected for result in results) else 1


def matrix_columns(results: list[RowResult]) -> list[str]:
    """The checks some row judged or expects, in registry order."""
    expected = {result.row.defect.check for result in results if result.row.defect is not None}
    judged = {name for result in results for name in CHECKS if result.status(name) in (Status.PASS, Status.FAIL)}
    return [name for name in CHECKS if name in judged | expected]


_CELLS = {Status.PASS: ("pass", "green"), Status.FAIL: ("fail", "red"), Status.NOT_APPLICABLE: ("n/a", "dim")}
_VERDICT_STYLES = {
    RowVerdict.PASSED: "bold green",
    RowVerdict.CAUGHT: "bold green",
    RowVerdict.FAILED: "bold red",
    RowVerdict.MISSED: "bold red",
    RowVerdict.ERROR: "bold yellow",
}


def matrix(results: list[RowResult]) -> Table:
    """Server by check: pass, fail or n/a; the check expected to catch a defect in brackets."""
    columns = matrix_columns(results)
    caption = Text("[check]: the check expected to catch the defect")
    table = Table(title="sse-chaos selftest", caption=caption)
    table.add_column("server", no_wrap=True)
    for name in columns:
        table.add_column(name.replace("_", "\n"), justify="center", min_width=6)
    table.add_column("verdict", no_wrap=True)
    for result in results:
        expected = result.row.defect.check if result.row.defect is not None else None
        cells = [_cell(result.status(name), name == expected) for name in columns]
        verdict = Text(result.verdict.value, style=_VERDICT_STYLES[result.verdict])
        table.add_row(result.row.name, *cells, verdict)
    return table


def _cell(status: Status | None, expected: bool) -> Text:
    word, style = _CELLS[status] if status is not None else ("-", "dim")
    if expected:
        return Text(f"[{word}]", style=f"{style} bold reverse")
    return Text(word, style=style)


def summary(results: list[RowResult], wall_seconds: float) -> dict[str, Any]:
    """selftest.json: the matrix, with what each defect breaks and where in the server it acts."""
    return {
        "passed": exit_status(results) == 0,
        "wall_seconds": round(wall_seconds, 1),
        "rows": [
            {
                "server": result.row.name,
                "breaks": result.row.defect.breaks if result.row.defect else None,
                "where": result.row.defect.where if result.row.defect else None,
                "expected_check": result.row.defect.check if result.row.defect else None,
                "scenarios": [scenario.name for scenario in result.row.scenarios],
                "verdict": result.verdict.value,
                "errors": result.errors,
                "wall_seconds": round(result.wall_seconds, 1),
                "checks": {name: _status_name(result.status(name)) for name in CHECKS},
            }
            for result in results
        ],
    }


def _status_name(status: Status | None) -> str | None:
    return status.value if status is not None else None


def defects_table() -> Table:
    """The seeded defects: what each breaks, the scenarios that expose it, the check that must catch it."""
    table = Table(title="seeded defects (DEFECT=name python -m reference_server)", show_lines=True)
    table.add_column("defect", no_wrap=True)
    table.add_column("breaks", overflow="fold")
    table.add_column("scenarios")
    table.add_column("expected check", no_wrap=True)
    table.add_column("acts in", no_wrap=True)
    for defect in DEFECTS.values():
        table.add_row(defect.name, defect.breaks, ", ".join(defect.scenarios), defect.check, defect.where)
    return table
