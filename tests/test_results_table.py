"""The results table `run` and `report` end with: one line a scenario, or today's detail with --verbose."""

from __future__ import annotations

import io

from rich.console import Console

from harness.checks import CheckResult, Status
from harness.history import History
from harness.results import ScenarioRun
from harness.results_table import failure_summaries, first_problem, results_table

LATE = "c0003#2: heartbeats 0.412 s apart, expected 0.25 s; c0001#0: heartbeats 0.400 s apart, expected 0.25 s"


def _run(name: str, *results: tuple[str, Status, str], error: str | None = None) -> ScenarioRun:
    checks = [CheckResult(check, status, detail) for check, status, detail in results]
    return ScenarioRun(name, "d", History(), checks, error=error, wall_seconds=4.25)


PASSED = _run(
    "baseline",
    ("headers", Status.PASS, "3 responses carried every required header"),
    ("no_loss", Status.PASS, "3 answers re-assembled whole"),
    ("page_display", Status.NOT_APPLICABLE, "no browser client"),
)
FAILED = _run(
    "stall",
    ("heartbeat_timing", Status.FAIL, LATE),
    ("no_loss", Status.PASS, "2 answers re-assembled whole"),
    ("completion", Status.FAIL, "c0001: ended with reason 'finished', expected 'duration_cap'"),
)
ERRORED = _run("many-clients", error="toxiproxy answered 503: busy; restarted twice")
MARKUP = _run("[bold]x[/bold]", ("headers", Status.FAIL, "X-Trace-ID is '[red]'"))


def _rendered(runs: list[ScenarioRun], verbose: bool = False, width: int = 100) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(results_table(runs, verbose))
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_each_scenario_is_one_line_at_any_width() -> None:
    for width in (60, 100, 200):
        lines = _rendered([PASSED, FAILED, ERRORED], width=width)
        rows = [line for line in lines if line.startswith("│")]
        assert [row.split("│")[1].strip() for row in rows] == ["baseline", "stall", "many-clients"], lines
        assert all(len(line) <= width for line in lines)


def test_a_line_has_the_verdict_the_first_problem_of_each_failure_the_counts_and_the_seconds() -> None:
    row = next(line for line in _rendered([FAILED], width=400) if line.startswith("│ stall"))
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == [
        "stall",
        "fail",
        "heartbeat_timing: c0003#2: heartbeats 0.412 s apart, expected 0.25 s | completion: c0001: ended with reason"
        " 'finished', expected 'duration_cap'",
        "1",
        "0",
        "4.2",
    ]
    passed = next(line for line in _rendered([PASSED], width=400) if line.startswith("│ baseline"))
    assert [cell.strip() for cell in passed.split("│")[1:-1]] == ["baseline", "pass", "", "2", "1", "4.2"]


def test_an_error_shows_its_first_part() -> None:
    assert failure_summaries(ERRORED) == ["error: toxiproxy answered 503: busy"]
    assert first_problem("one problem") == "one problem"


def test_verbose_shows_today_s_detail() -> None:
    text = "\n".join(_rendered([PASSED, FAILED], verbose=True, width=400))
    assert "passed: headers, no_loss" in text
    assert f"heartbeat_timing: fail: {LATE}" in text
    assert "completion: fail: c0001: ended with reason 'finished', expected 'duration_cap'" in text


def test_names_and_details_are_shown_as_they_are_never_as_markup() -> None:
    for verbose in (False, True):
        text = "\n".join(_rendered([MARKUP], verbose=verbose, width=200))
        assert "[bold]x[/bold]" in text
        assert "'[red]'" in text


def test_verbose_shows_the_latency_figures_and_why_one_is_absent() -> None:
    run = _run("baseline", ("headers", Status.PASS, "3 responses carried every required header"))
    run.figures.set("first_content_p50_ms", 0.0271)
    run.figures.lack(("extra_ms",), "no client received the whole answer")
    text = "\n".join(_rendered([run], verbose=True, width=400))
    assert "figure: time to first content p50 ms: 27.1" in text
    assert "figure: extra time faults cost ms: absent (no client received the whole answer)" in text
    assert "figure:" not in "\n".join(_rendered([run], width=400))
