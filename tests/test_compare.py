"""`sse-chaos compare`: identical runs pass, an injected regression is flagged and exits 1."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.compare import compare


def summary() -> dict[str, Any]:
    checks = [
        {"name": "heartbeat_timing", "status": "pass", "detail": "", "evidence": {"error_p99_ms": 3.0}},
        {"name": "reconnect_bounds", "status": "pass", "detail": "", "evidence": {"min": 1, "max": 2}},
        {"name": "duration_cap", "status": "pass", "detail": "", "evidence": {"longest_s": 3.0}},
        {"name": "no_loss", "status": "pass", "detail": "", "evidence": {}},
    ]
    scenario = {"name": "stall", "passed": True, "error": None, "wall_seconds": 3.1, "checks": checks}
    return {"passed": True, "scenarios": [scenario]}


def write(directory: Path, content: dict[str, Any]) -> Path:
    directory.mkdir()
    (directory / "summary.json").write_text(json.dumps(content))
    return directory


def regressions(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c.item, c.base, c.new) for c in compare(base, new) if c.regression]


def test_identical_runs_have_no_regression() -> None:
    assert regressions(summary(), summary()) == []


def test_a_check_that_starts_failing_is_a_regression() -> None:
    new = copy.deepcopy(summary())
    new["scenarios"][0]["checks"][3]["status"] = "fail"
    new["scenarios"][0]["passed"] = False
    assert regressions(summary(), new) == [("verdict", "pass", "fail"), ("no_loss", "pass", "fail")]


@pytest.mark.parametrize(
    ("check_index", "key", "value", "flagged"),
    [
        (0, "error_p99_ms", 22.0, False),  # +19 ms: within the 20 ms allowance
        (0, "error_p99_ms", 24.0, True),
        (1, "max", 4, False),
        (1, "max", 5, True),
        (2, "longest_s", 3.7, False),  # +0.7 s is under 25 % of 3 s
        (2, "longest_s", 3.9, True),
    ],
)
def test_metric_growth_beyond_its_threshold_is_a_regression(
    check_index: int, key: str, value: float, flagged: bool
) -> None:
    new = copy.deepcopy(summary())
    new["scenarios"][0]["checks"][check_index]["evidence"][key] = value
    assert bool(regressions(summary(), new)) == flagged


def test_a_missing_or_erroring_scenario_is_a_regression() -> None:
    gone = {"passed": True, "scenarios": []}
    assert regressions(summary(), gone) == [("scenario", "pass", "absent")]
    errored = copy.deepcopy(summary())
    errored["scenarios"][0] |= {"error": "toxiproxy answered 503: busy", "passed": False, "checks": []}
    assert ("verdict", "pass", "error") in regressions(summary(), errored)


def test_cli_exit_codes(tmp_path: Path) -> None:
    base = write(tmp_path / "base", summary())
    same = write(tmp_path / "same", summary())
    worse = copy.deepcopy(summary())
    worse["scenarios"][0]["checks"][0]["evidence"]["error_p99_ms"] = 90.0
    worse_dir = write(tmp_path / "worse", worse)
    runner = CliRunner()
    assert runner.invoke(app, ["compare", str(base), str(same)]).exit_code == 0
    result = runner.invoke(app, ["compare", str(base), str(worse_dir), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["regressions"] == 1
    missing = runner.invoke(app, ["compare", str(base), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no summary.json" in missing.output
