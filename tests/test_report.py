"""The report directory: every file parses, and the files agree with each other."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.checks import Status
from harness.cli import app
from harness.history import Kind
from harness.report import PARQUET, write_history, write_report
from harness.report.charts import heartbeat_svg, timeline_svg
from harness.results import ScenarioRun
from tests.helpers.histories import HistoryBuilder, changed, judge_all
from tests.helpers.screenshots import assert_not_blank


def runs() -> list[ScenarioRun]:
    good = HistoryBuilder().good_stream().history
    bad_builder = HistoryBuilder(chunks=3)
    bad_builder.connect(0.0)
    for seq in (0, 2):  # seq 1 lost
        bad_builder.chunk(0.1 * (seq + 1), seq)
    bad_builder.complete(0.4)
    result = []
    for name, history in (("good", good), ("lossy", bad_builder.history)):
        history.plan = changed(history.plan, expect={"max_reconnects": 0}).model_copy(
            update={"scenario": name, "description": f"{name} stream"}
        )
        run = ScenarioRun(name, f"{name} stream", history, judge_all(history), wall_seconds=1.5)
        result.append(run)
    errored = ScenarioRun("errored", "an environment error", HistoryBuilder().history, error="toxiproxy answered 503")
    return [*result, errored]


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    for run in runs():
        write_history(tmp_path, run)
    write_report(tmp_path, runs())
    return tmp_path


def test_summary_junit_and_events_agree(report_dir: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    assert [s["name"] for s in summary["scenarios"]] == ["good", "lossy", "errored"]
    assert [s["passed"] for s in summary["scenarios"]] == [True, False, False]
    suites = ET.parse(report_dir / "junit.xml").getroot()
    assert suites.tag == "testsuites"
    for scenario, suite in zip(summary["scenarios"], suites.findall("testsuite"), strict=True):
        assert suite.get("name") == scenario["name"]
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        statuses = [c["status"] for c in scenario["checks"]]
        assert int(suite.get("failures")) == statuses.count("fail") == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == statuses.count("not_applicable")
        assert int(suite.get("errors")) == (scenario["error"] is not None)
        assert all(case.get("classname") and case.get("name") for case in cases)
    failure = suites.find("testsuite[@name='lossy']/testcase[@name='no_loss']/failure")
    assert failure is not None
    assert "seq" in failure.get("message")
    events = pd.read_csv(report_dir / "events.csv")
    assert len(events) == sum(len(run.history.records) for run in runs())
    assert list(events["scenario"].unique()) == ["good", "lossy"]


@pytest.mark.skipif(not PARQUET, reason="pyarrow is not installed")
def test_parquet_holds_the_same_rows(report_dir: Path) -> None:
    from_csv = pd.read_csv(report_dir / "events.csv", keep_default_na=False)
    from_parquet = pd.read_parquet(report_dir / "events.parquet")
    assert list(from_parquet.columns) == list(from_csv.columns)
    assert from_parquet["t_ns"].tolist() == from_csv["t_ns"].tolist()
    assert from_parquet["data"].fillna("").tolist() == from_csv["data"].tolist()


def test_html_names_every_scenario_verdict_and_has_charts(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    for name in ("good", "lossy", "errored", "toxiproxy answered 503", "no_loss"):
        assert name in html
    assert html.count("<svg") >= 2
    assert re.search(r'(src|href)="(https?:)?//', html) is None  # self-contained: nothing fetched


def test_charts_draw_no_more_marks_than_can_be_seen_and_show_a_cap() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    for n in range(20_000):
        builder.heartbeat(0.25 + n * 0.001)
    builder.add(20.3, Kind.TRUNCATED, detail="records capped at 40003")
    timeline, beats = timeline_svg(builder.history), heartbeat_svg(builder.history)
    assert "records capped" in timeline
    assert len(timeline) < 400_000  # 20,000 heartbeats drawn one by one made 2 MB, in either chart
    assert len(beats) < 400_000


def test_report_command_rechecks_saved_histories_offline(report_dir: Path) -> None:
    (report_dir / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(report_dir)])
    assert result.exit_code == 1  # the lossy scenario still fails when re-checked
    assert (report_dir / "report.html").exists()
    summary = json.loads((report_dir / "summary.json").read_text())
    lossy = next(s for s in summary["scenarios"] if s["name"] == "lossy")
    assert {c["name"]: c["status"] for c in lossy["checks"]}["no_loss"] == Status.FAIL


def test_report_page_renders_in_headless_chromium(report_dir: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto((report_dir / "report.html").as_uri())
            charts = page.locator("svg")
            assert charts.count() >= 2
            assert charts.first.bounding_box()["width"] > 300
            screenshot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert problems == []
    (report_dir / "report.png").write_bytes(screenshot)
    assert_not_blank(screenshot)


def _spoil_record(field: str, value: object, kind: str | None = None) -> Callable[[dict[str, Any]], None]:
    """Set `field` of the first record (of `kind`, when given) to `value`."""

    def spoil(saved: dict[str, Any]) -> None:
        columns = saved["columns"]
        row = next(r for r in saved["records"] if kind is None or r[columns.index("kind")] == kind)
        row[columns.index(field)] = value

    return spoil


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_spoil_record("t_ns", "soon"), "t_ns is not int"),
        (_spoil_record("nbytes", None), "nbytes is not int"),
        (_spoil_record("kind", 7), "kind is not str"),
        (_spoil_record("detail", "{not json", kind="response"), "not a history sse-chaos wrote"),
        (_spoil_record("detail", "[1]", kind="response"), "response headers are not an object"),
        (_spoil_record("detail", '{"action": "down"}', kind="fault_start"), "not a history sse-chaos wrote"),
        (lambda saved: saved.update(epoch_ns="0"), "epoch_ns is not an integer"),
        (lambda saved: saved.update(wall_seconds="long"), "its error or wall_seconds is not what sse-chaos writes"),
        (lambda saved: saved.update(error=3), "its error or wall_seconds is not what sse-chaos writes"),
        (lambda saved: saved.pop("plan"), "not a history sse-chaos wrote: no 'plan'"),
        (lambda saved: saved["columns"].pop(), "its columns are not"),
    ],
)
def test_a_spoilt_history_is_one_line_from_sse_chaos_report(
    report_dir: Path, spoil: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = report_dir / "histories" / "good.json"
    saved = json.loads(path.read_text())
    if saved["plan"] is not None:
        saved["records"].append([0, "nemesis", "fault_start", -1, -1, 0, 0, "", "f0", False, "", "{}", "", 0])
        saved["records"][-1][saved["columns"].index("detail")] = json.dumps(
            {"action": "down", "description": "down", "proxy": "p", "slack": {"heartbeat_s": None, "delay_s": 0.0}}
        )
    spoil(saved)
    path.write_text(json.dumps(saved))
    result = CliRunner().invoke(app, ["report", str(report_dir)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output
    assert f"{path}:" in " ".join(result.output.split())


def test_a_history_nested_too_deep_is_one_line(report_dir: Path) -> None:
    (report_dir / "histories" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(app, ["report", str(report_dir)])
    assert result.exit_code == 2
    assert "nested too deep to be a history" in result.output
