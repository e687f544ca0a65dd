"""`sse-chaos selftest`: the verdict of each server, and a real run on a few defects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.checks import CheckResult, Status
from harness.cli import app
from harness.errors import ConfigurationError
from harness.history import History
from harness.results import ScenarioRun
from harness.selftest import CORRECT, Row, RowResult, RowVerdict, exit_status, plan_rows
from reference_server.defects import DEFECTS
from tests.helpers.toxiproxy import require_toxiproxy

PROVEN = ("resume-duplicates", "heartbeat-first-early", "no-cache-control")  # a cut, a timing, a header


def _result(defect: str | None, *statuses: tuple[str, Status], error: str | None = None) -> RowResult:
    results = [CheckResult(name, status, f"{name} said so") for name, status in statuses]
    run = ScenarioRun("baseline", "", History(), results, error=error)
    row = Row(defect or CORRECT, DEFECTS[defect] if defect else None, ())
    return RowResult(row, [run])


def test_the_correct_server_must_pass_every_check() -> None:
    passed = _result(None, ("headers", Status.PASS), ("page_display", Status.NOT_APPLICABLE))
    failed = _result(None, ("headers", Status.PASS), ("no_loss", Status.FAIL))
    assert passed.verdict == RowVerdict.PASSED
    assert failed.verdict == RowVerdict.FAILED
    assert failed.findings() == ["correct: baseline: no_loss fail: no_loss said so"]
    assert (exit_status([passed]), exit_status([failed])) == (0, 1)


def test_a_defect_is_caught_only_by_its_expected_check_failing() -> None:
    caught = _result("seq-gap", ("no_loss", Status.FAIL), ("headers", Status.FAIL))
    missed = _result("seq-gap", ("no_loss", Status.PASS), ("no_duplicates", Status.FAIL))
    correct = _result(None, ("no_loss", Status.PASS))
    assert caught.verdict == RowVerdict.CAUGHT
    assert caught.findings() == []
    assert missed.verdict == RowVerdict.MISSED
    assert missed.findings() == ["seq-gap: baseline: no_loss pass: no_loss said so"]
    assert exit_status([correct, caught]) == 0
    assert exit_status([correct, caught, missed]) == 1


def test_a_scenario_that_could_not_run_is_an_error_whatever_else_happened() -> None:
    errored = _result("seq-gap", error="toxiproxy went away")
    missed = _result("cap-early", ("duration_cap", Status.PASS))
    assert errored.verdict == RowVerdict.ERROR
    assert errored.findings() == ["seq-gap: error: baseline: toxiproxy went away"]
    assert exit_status([_result(None), missed, errored]) == 2


def test_a_check_over_a_server_s_scenarios_fails_if_any_failed() -> None:
    result = _result("seq-gap", ("no_loss", Status.PASS))
    result.runs.append(_result("seq-gap", ("no_loss", Status.FAIL), ("headers", Status.NOT_APPLICABLE)).runs[0])
    assert (result.status("no_loss"), result.status("headers"), result.status("completion")) == (
        Status.FAIL,
        Status.NOT_APPLICABLE,
        None,
    )


def test_the_correct_server_plays_every_scenario_the_chosen_defects_need() -> None:
    rows = plan_rows(["cap-early", "seq-gap", "cap-early", "resume-skips"])
    assert [row.name for row in rows] == [CORRECT, "cap-early", "seq-gap", "resume-skips"]
    assert [s.name for s in rows[0].scenarios] == ["duration-cap", "baseline", "reset-midstream"]
    assert rows[1].scenarios[0] is rows[0].scenarios[0]  # each scenario file read once
    assert len(plan_rows([])) == len(DEFECTS) + 1
    assert [row.name for row in plan_rows(["seq-gap", "cap-early"], ["cap-early"])] == [CORRECT, "seq-gap"]
    with pytest.raises(ConfigurationError, match="no seeded defect 'nope' \\(known: resume-duplicates, "):
        plan_rows(["nope"])
    with pytest.raises(ConfigurationError, match="nothing to prove"):
        plan_rows(["seq-gap"], ["seq-gap"])


def test_an_unknown_defect_is_a_usage_error_and_list_shows_them_all() -> None:
    unknown = CliRunner().invoke(app, ["selftest", "--defect", "nope"])
    assert unknown.exit_code == 2
    assert "no seeded defect 'nope'" in unknown.stderr
    listed = CliRunner().invoke(app, ["selftest", "--list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0
    assert all(name in listed.stdout for name in DEFECTS)


def test_selftest_proves_chosen_defects_caught_through_the_real_toxiproxy(tmp_path: Path) -> None:
    require_toxiproxy()
    defects = [option for name in PROVEN for option in ("--defect", name)]
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "selftest", *defects, "--report-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "selftest.json").read_text())
    assert summary["passed"] is True
    rows = {row["server"]: row for row in summary["rows"]}
    assert list(rows) == [CORRECT, *PROVEN]
    assert rows[CORRECT]["verdict"] == "passed"
    assert rows[CORRECT]["scenarios"] == ["reset-midstream", "baseline"]
    assert all(status in ("pass", "not_applicable") for status in rows[CORRECT]["checks"].values())
    for name in PROVEN:
        assert rows[name]["verdict"] == "caught"
        assert rows[name]["checks"][DEFECTS[name].check] == "fail"
        assert (tmp_path / name / "report.html").is_file()
        assert "seeded defect" in (tmp_path / name / "reference-server.log").read_text()
    assert "seeded defect" not in (tmp_path / CORRECT / "reference-server.log").read_text()
    assert result.stdout.count("[fail]") == len(PROVEN)  # the expected check, marked in the matrix
    assert f"defects caught by their expected check: {len(PROVEN)} of {len(PROVEN)}" in result.stderr
