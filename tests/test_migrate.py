"""Histories recorded by the first format (before plans) migrate on load and get the verdicts they
got when they were recorded."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.history import History, Kind
from harness.report import load_runs

RECORDED = Path(__file__).parent / "data" / "format-1"


@pytest.fixture
def old_report(tmp_path: Path) -> Path:
    """A report directory written by the first format: its histories and the summary of its verdicts."""
    (tmp_path / "histories").mkdir()
    for packed in (RECORDED / "histories").glob("*.json.gz"):
        (tmp_path / "histories" / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    shutil.copy(RECORDED / "summary.json", tmp_path / "summary.json")
    return tmp_path


def test_recorded_histories_get_the_verdicts_they_got_when_recorded(old_report: Path) -> None:
    """The same status for every check. (Until the checks grew stricter, the detail and evidence
    were the same too; the wording and some evidence have changed since, on purpose.)"""
    summary = json.loads((old_report / "summary.json").read_text())
    recorded = {s["name"]: {c["name"]: c["status"] for c in s["checks"]} for s in summary["scenarios"]}
    runs = load_runs(old_report)
    assert sorted(run.name for run in runs) == sorted(recorded)
    for run in runs:
        assert {result.name: result.status.value for result in run.results} == recorded[run.name], run.name


def test_migrated_records_mean_one_thing_per_field(old_report: Path) -> None:
    history = History.from_json(json.loads((old_report / "histories" / "browser-stall.json").read_text()))
    lags = history.of_kind(Kind.LOOP_LAG)
    assert lags
    assert all(lag.nbytes == 0 for lag in lags)
    assert any(lag.lag_us > 0 for lag in lags)
    outcomes = history.of_kind(Kind.OUTCOME)
    assert outcomes
    assert all(o.outcome == "complete" and o.detail and not o.data for o in outcomes)
    assert history.plan is not None
    assert history.plan.clients.kind == "browser"
    assert history.screenshots


def test_a_latency_fault_keeps_its_slack_across_the_migration(old_report: Path) -> None:
    history = History.from_json(json.loads((old_report / "histories" / "latency-jitter.json").read_text()))
    start = history.of_kind(Kind.FAULT_START)[0]
    assert json.loads(start.detail)["slack"] == {"heartbeat_s": 0.04, "delay_s": 0.12}


def test_sse_chaos_report_re_checks_an_old_report_directory(old_report: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(old_report)])
    assert result.exit_code == 0, result.output
    assert (old_report / "report.html").exists()


def test_a_history_it_cannot_read_is_one_line_from_sse_chaos_report(old_report: Path) -> None:
    (old_report / "histories" / "future.json").write_text(json.dumps({"format": 99}))
    result = CliRunner().invoke(app, ["report", str(old_report)])
    assert result.exit_code == 2
    assert "future.json: a history of format 99" in result.output
    assert "Traceback" not in result.output
