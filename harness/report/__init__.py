"""The report directory: summary.json, events.csv, junit.xml, report.html, histories/."""

from __future__ import annotations

import importlib.util
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from harness.checks import CHECKS, CheckResult, run_checks
from harness.history import History
from harness.report.charts import heartbeat_svg, timeline_svg
from harness.report.files import write_atomic
from harness.report.junit import junit_xml
from harness.runner import ScenarioRun, summary_of

HISTORIES = "histories"
PARQUET = importlib.util.find_spec("pyarrow") is not None  # events.parquet too, when pyarrow is installed


def write_report(report_dir: Path, runs: list[ScenarioRun]) -> Path:
    """Write the report files for `runs`, whose histories are saved already; returns report.html's path."""
    summary = summary_of(runs) | {"written": _now()}
    write_atomic(report_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    events = _events_frame(runs)
    write_atomic(report_dir / "events.csv", events.to_csv(index=False))
    if PARQUET:
        buffer = io.BytesIO()
        events.to_parquet(buffer, index=False)
        write_atomic(report_dir / "events.parquet", buffer.getvalue())
    write_atomic(report_dir / "junit.xml", junit_xml(runs))
    html_path = report_dir / "report.html"
    write_atomic(html_path, render_html(runs))
    return html_path


def write_history(report_dir: Path, run: ScenarioRun) -> None:
    payload = run.history.to_json() | {"wall_seconds": run.wall_seconds, "error": run.error}
    write_atomic(report_dir / HISTORIES / f"{run.name}.json", json.dumps(payload, ensure_ascii=False))


def load_runs(report_dir: Path) -> list[ScenarioRun]:
    """Saved histories, re-checked offline (the checks never touch the network)."""
    runs = []
    for path in sorted((report_dir / HISTORIES).glob("*.json")):
        payload = json.loads(path.read_text())
        history = History.from_json(payload)
        run = ScenarioRun(history.meta["scenario"], history.meta.get("description", ""), history)
        run.error, run.wall_seconds = payload.get("error"), payload.get("wall_seconds", 0.0)
        run.results = run_checks(history) if run.error is None else []
        runs.append(run)
    return runs


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
    error: str | None
    wall_seconds: float
    results: list[CheckResult]
    by_name: dict[str, CheckResult]
    timeline: str
    heartbeats: str
    faults: str
    screenshots: list[str]


def render_html(runs: list[ScenarioRun]) -> str:
    env = Environment(loader=PackageLoader("harness.report"), autoescape=select_autoescape(["html", "j2"]))
    views = [
        _RunView(
            run.name,
            run.description,
            run.passed,
            run.error,
            run.wall_seconds,
            run.results,
            {r.name: r for r in run.results},
            timeline_svg(run.history),
            heartbeat_svg(run.history),
            json.dumps(run.history.meta.get("faults", []), indent=2),
            [str(path) for path in run.history.meta.get("screenshots", [])],
        )
        for run in runs
    ]
    passed = all(run.passed for run in runs)
    target = runs[0].history.meta.get("target", "?") if runs else "?"
    return env.get_template("report.html.j2").render(
        runs=views,
        passed=passed,
        verdict="PASS" if passed else "FAIL",
        check_names=list(CHECKS),
        target=target,
        written=_now(),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
