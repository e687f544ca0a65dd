"""The pytest plugin, exercised with pytester in a subprocess (it starts real processes)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SHORT = 'description = "short"\n[clients]\ncount = 1\nmax_tokens = 8\n'

FIXTURE_TESTS = """
import httpx


def test_proxy_fixture_streams_and_cuts(sse_proxy, sse_target):
    assert sse_proxy.url != sse_target
    params = {"query": "q", "max_tokens": "400"}
    with httpx.stream("GET", sse_proxy.url, params=params, timeout=5) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_bytes()
        assert b"event:" in next(chunks) + next(chunks)
        sse_proxy.down()
        try:
            for _ in chunks:
                pass
        except httpx.HTTPError:
            pass
    sse_proxy.up()


def test_run_scenario_fixture(sse_run_scenario):
    from harness.scenario import Scenario

    scenario = Scenario.model_validate({"name": "inline", "description": "d", "clients": {"max_tokens": 8}})
    run = sse_run_scenario(scenario)
    assert run.passed, [r.detail for r in run.results]
    assert {r.name for r in run.results} >= {"no_loss", "completion"}
"""


def test_scenario_files_and_fixtures(
    toxiproxy_server: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_SERVER", str(toxiproxy_server))
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "short.toml").write_text('name = "short"\n' + SHORT)
    (scenarios / "wrong-ending.toml").write_text(
        'name = "wrong-ending"\n' + SHORT + '[expect]\nreason = "duration_cap"\nchecks = ["completion"]\n'
    )
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    options = ["--sse-report-dir", "report", "--junitxml", "junit.xml", "--sse-header", "X-Tenant: blue"]
    result = pytester.runpytest_subprocess("scenarios", "test_fixtures.py", *options, timeout=300)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenario wrong-ending: fail*",
            "*completion: fail: c0000: ended with reason 'finished', expected 'duration_cap'*",
        ]
    )
    result.stdout.fnmatch_lines(["*evidence: {*"])
    cases = {case.get("name"): case for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["short"].iter("property")}
    assert properties["sse_chaos.no_loss"].startswith("pass: ")
    summary = json.loads((pytester.path / "report" / "summary.json").read_text())
    assert [s["name"] for s in summary["scenarios"]] == ["short", "wrong-ending", "inline"]
    assert (pytester.path / "report" / "report.html").exists()


def test_an_invalid_scenario_file_is_a_collection_error(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "bad.toml").write_text('name = "bad"\ndescription = "x"\ncolour = "red"\n')
    result = pytester.runpytest_subprocess("scenarios", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*bad.toml*colour*"])


def test_a_bad_profile_field_fails_the_scenario_in_one_line(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "short.toml").write_text('name = "short"\n' + SHORT)
    options = ["--sse-target", "http://127.0.0.1:9/s", "--sse-profile", "openai-chat"]
    result = pytester.runpytest_subprocess("scenarios", *options, "--sse-profile-field", "colour=red", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-P over *openai-chat.toml: colour: Extra inputs are not permitted*"])


def test_sse_workers_splits_a_scenario_s_clients_over_worker_processes(
    toxiproxy_server: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_SERVER", str(toxiproxy_server))
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "four.toml").write_text('name = "four"\n' + SHORT.replace("count = 1", "count = 4"))
    result = pytester.runpytest_subprocess("scenarios", "--sse-workers", "2", "--sse-report-dir", "report", timeout=300)
    result.assert_outcomes(passed=1)
    history = json.loads((pytester.path / "report" / "histories" / "four.json").read_text())
    assert history["loops"] == {f"c000{n}": f"harness:worker{n % 2}" for n in range(4)}


@pytest.mark.parametrize("workers", ["0", "33", "two"])
def test_sse_workers_out_of_bounds_is_a_usage_error(pytester: pytest.Pytester, workers: str) -> None:
    result = pytester.runpytest_subprocess("--sse-workers", workers, timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sse-workers: a number of worker processes from 1 to 32, not '{workers}'*"])
