"""The report directory: summary.json, events.csv, junit.xml, report.html, histories/."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from harness.checks import CHECKS, CheckResult, run_checks
from harness.errors import ConfigurationError
from harness.figures import latency_figures
from harness.histograms import PRECISION, Histogram
from harness.history import History
from harness.report.charts import heartbeat_svg, timeline_svg
from harness.report.files import write_atomic, write_atomic_with
from harness.report.junit import junit_xml
from harness.results import ScenarioRun, summary_of

HISTORIES = "histories"
PARQUET = importlib.util.find_spec("pyarrow") is not None  # events.parquet too, when pyarrow is installed


def write_report(report_dir: Path, runs: list[ScenarioRun]) -> Path:
    """Write the report files for `runs`, whose histories are saved already; returns report.html's path."""
    summary = summary_of(runs) | {"written": _now()}
    write_atomic(report_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    _write_events(report_dir, runs)
    write_atomic(report_dir / "junit.xml", junit_xml(runs))
    html_path = report_dir / "report.html"
    write_atomic(html_path, render_html(runs))
    return html_path


def _write_events(report_dir: Path, runs: list[ScenarioRun]) -> None:
    """events.csv, and events.parquet with pyarrow, written to the file as they are made: as one
    string, the CSV of 30,000 records (three clients at their cap) took 60 MB."""
    events = _events_frame(runs)
    write_atomic_with(report_dir / "events.csv", lambda handle: events.to_csv(handle, index=False))
    if PARQUET:
        write_atomic_with(report_dir / "events.parquet", lambda handle: events.to_parquet(handle, index=False))


def write_history(report_dir: Path, run: ScenarioRun) -> None:
    payload = run.history.to_json() | {
        "scenario": run.name,
        "description": run.description,
        "wall_seconds": run.wall_seconds,
        "error": run.error,
    }
    write_atomic(report_dir / HISTORIES / f"{run.name}.json", json.dumps(payload, ensure_ascii=False))


def load_runs(report_dir: Path) -> list[ScenarioRun]:
    """Saved histories, re-checked offline (the checks never touch the network)."""
    return [judged(load_saved_run(path)) for path in sorted((report_dir / HISTORIES).glob("*.json"))]


def judged(run: ScenarioRun) -> ScenarioRun:
    """The run with its checks and figures, from its plan and history (none when it ended in an error)."""
    plan = run.history.plan
    if run.error is None and plan is None:
        run.error = "the saved history has no plan: the run ended before it was planned"
    if run.error is None and plan is not None:
        run.results = run_checks(plan, run.history)
        run.figures = latency_figures(plan, run.history)
    return run


def load_saved_run(path: Path) -> ScenarioRun:
    """A saved history as the run it was, not judged yet."""
    try:
        payload = json.loads(path.read_text())
        history = History.from_json(payload)
    except RecursionError:
        raise ConfigurationError(f"{path}: nested too deep to be a history") from None
    except (OSError, ValueError, ConfigurationError) as error:
        raise ConfigurationError(f"{path}: {error}") from None
    error, wall_seconds = payload.get("error"), payload.get("wall_seconds", 0.0)
    if not isinstance(error, str | None) or isinstance(wall_seconds, bool) or not isinstance(wall_seconds, int | float):
        raise ConfigurationError(f"{path}: its error or wall_seconds is not what sse-chaos writes")
    plan = history.plan
    name, description = (plan.scenario, plan.description) if plan is not None else _saved_names(payload, path)
    return ScenarioRun(name, description, history, error=error, wall_seconds=float(wall_seconds))


def _saved_names(payload: dict[str, Any], path: Path) -> tuple[str, str]:
    """The name and description of a run that ended before it was planned, as `write_history` saved them."""
    saved = payload.get("meta", payload)  # the first format kept them in its meta
    return str(saved.get("scenario") or path.stem)[:100], str(saved.get("description") or "")[:500]


def _events_frame(runs: list[ScenarioRun]) -> pd.DataFrame:
    frames = [run.history.to_frame().assign(scenario=run.name) for run in runs]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    return frame[["scenario", *[c for c in frame.columns if c != "scenario"]]]


@dataclass
class _RunView:
    name: str
    description: str
    passed: bool
    verdict: str
    error: str | None
    wall_seconds: float
    results: list[CheckResult]
    by_name: dict[str, CheckResult]
    timeline: str
    heartbeats: str
    faults: str
    screenshots: list[str]
    figures: list[str]  # the latency figures, one line each (an absent one says why)
    timing: list[list[str]]  # a row per histogram: its name, samples, percentiles and max in ms
    clocks: list[str]  # a shard's clock (a merged run: every shard's), one line each


def render_html(runs: list[ScenarioRun]) -> str:
    env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(["html", "j2"]))
    views = [
        _RunView(
            run.name,
            run.description,
            run.passed,
            run.verdict,
            run.error,
            run.wall_seconds,
            run.results,
            {r.name: r for r in run.results},
            timeline_svg(run.history),
            heartbeat_svg(run.history),
            _faults_text(run.history),
            list(run.history.screenshots),
            run.figures.lines(),
            [_timing_row(run.histograms[name]) for name in sorted(run.histograms)],
            [f"shard {anchor.shard}: {anchor.clock.describe()}" for anchor in run.history.anchors],
        )
        for run in runs
    ]
    passed = all(run.passed for run in runs)
    target = next((run.history.plan.target for run in runs if run.history.plan is not None), "?")
    return env.get_template("report.html.j2").render(
        runs=views,
        passed=passed,
        verdict="PASS" if passed else "FAIL",
        check_names=list(CHECKS),
        percentiles=TIMING_PERCENTILES,
        precision=PRECISION,
        target=target,
        written=_now(),
    )


TIMING_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _timing_row(histogram: Histogram) -> list[str]:
    seconds = [histogram.percentile(percent) for percent in TIMING_PERCENTILES] + [histogram.largest()]
    return [histogram.name, str(histogram.count), *(f"{value * 1000:.3f}" for value in seconds)]


def _faults_text(history: History) -> str:
    """The plan's fault timeline, one line per fault (a sweep's value range said once)."""
    plan = history.plan
    if plan is None:
        return ""
    lines = []
    for planned in plan.timeline():
        until = f"{planned.until:g} s" if planned.until is not None else "the end"
        lines.append(f"{planned.fault_id}: {planned.fault.describe()}, from {planned.at:g} s to {until}")
    if plan.sweep is not None:
        values = plan.sweep.values
        lines.append(
            f"sweep: {plan.sweep.fault_id}'s {plan.sweep.attribute} from {values[0]} to {values[-1]}, one client each,"
            f" {plan.sweep.lanes} lanes, each client's timeline from its own start"
        )
    return "\n".join(lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
