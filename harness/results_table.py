"""The table `sse-chaos run` and `report` end with: one line per scenario, read at a glance, or
each failed check's whole detail (or the passed checks' names) and the latency figures with `--verbose`."""

from __future__ import annotations

from collections import Counter

from rich.table import Table
from rich.text import Text

from harness.checks import Status
from harness.results import ScenarioRun, verdict_lines


def results_table(runs: list[ScenarioRun], verbose: bool = False) -> Table:
    return _detailed(runs) if verbose else _at_a_glance(runs)


def _at_a_glance(runs: list[ScenarioRun]) -> Table:
    """The verdict, the error or each failed check with its first problem, how many checks passed
    and how many did not apply, and the seconds; never more than one line a scenario."""
    table = Table(title="sse-chaos results")
    # Only the failures' column may narrow (rich narrows the columns that wrap); its text is cut short.
    table.add_column("scenario", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("failed")
    table.add_column("passed", justify="right", no_wrap=True)
    table.add_column("n/a", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for run in runs:
        counts = Counter(result.status for result in run.results)
        failed = Text(" | ".join(failure_summaries(run)), no_wrap=True, overflow="ellipsis")
        passed, not_applicable = str(counts[Status.PASS]), str(counts[Status.NOT_APPLICABLE])
        table.add_row(Text(run.name), _verdict(run), failed, passed, not_applicable, f"{run.wall_seconds:.1f}")
    return table


def failure_summaries(run: ScenarioRun) -> list[str]:
    """The run's error and each failed check, each with its first problem only."""
    lines = [f"error: {first_problem(run.error)}"] if run.error else []
    return lines + [f"{r.name}: {first_problem(r.detail)}" for r in run.results if r.status == Status.FAIL]


def first_problem(detail: str) -> str:
    """A failed check names its first problems, `; ` between them (`harness.checks.results.verdict`)."""
    return detail.split("; ", 1)[0]


def _detailed(runs: list[ScenarioRun]) -> Table:
    table = Table(title="sse-chaos results")
    table.add_column("scenario")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    table.add_column("s", justify="right")
    for run in runs:
        passed = ", ".join(r.name for r in run.results if r.status == Status.PASS)
        verdicts = "\n".join(verdict_lines(run, failed_only=True)) or f"passed: {passed}"
        detail = "\n".join([verdicts, *(f"figure: {line}" for line in run.figures.lines())])
        table.add_row(Text(run.name), _verdict(run), Text(detail), f"{run.wall_seconds:.1f}")
    return table


def _verdict(run: ScenarioRun) -> Text:
    return Text("pass", style="green") if run.passed else Text(run.verdict, style="bold red")
