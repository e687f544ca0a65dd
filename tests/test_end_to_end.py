"""Through the real Toxiproxy: the catalogue passes, and a broken server is caught."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from harness.checks import Status
from harness.history import HARNESS, History, Kind
from harness.profile import DEFAULT_PROFILE
from harness.runner import Runner
from harness.scenario import load_scenario
from harness.target import Target
from harness.toxiproxy import toxiproxy
from harness.transport import new_http_client
from tests.helpers.broken_server import broken_server
from tests.helpers.screenshots import assert_not_blank
from tests.helpers.toxiproxy import require_toxiproxy

# R7: the catalogue repeated, every run clean (a false failure is a bug). CI runs a few;
# SSE_CHAOS_CATALOGUE_RUNS=20 runs twenty (bench/catalogue.py also times them).
CATALOGUE_RUNS = int(os.environ.get("SSE_CHAOS_CATALOGUE_RUNS", "3"))


@pytest.mark.parametrize("run", [f"{n + 1}-of-{CATALOGUE_RUNS}" for n in range(CATALOGUE_RUNS)])
def test_whole_catalogue_passes_against_the_reference_server(tmp_path: Path, run: str) -> None:
    require_toxiproxy()
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    names = {scenario["name"] for scenario in summary["scenarios"]}
    assert {"baseline", "network-interruption", "stall", "cut-sweep", "cap-across-reconnects"} <= names
    assert all(check["status"] in ("pass", "not_applicable") for s in summary["scenarios"] for check in s["checks"])
    suites = ET.parse(report / "junit.xml").getroot()
    assert len(suites.findall("testsuite")) == len(names)
    assert sum(int(s.get("failures", "0")) for s in suites.findall("testsuite")) == 0
    assert "report.html" in result.stderr
    assert (report / "events.csv").stat().st_size > 0
    html = (report / "report.html").read_text()
    assert html.count("<svg") >= len(names)
    for scenario in ("browser-network-interruption", "browser-stall"):
        for shot in (report / "screenshots" / scenario).glob("*.png"):
            assert f'src="screenshots/{scenario}/{shot.name}"' in html
            assert_not_blank(shot.read_bytes())
    assert len(list((report / "screenshots").glob("*/*.png"))) == 4  # two pages per browser scenario
    for scenario in ("browser-network-interruption", "browser-stall"):
        _assert_faults_came_after_every_page_connected(History.load(report / "histories" / f"{scenario}.json"))


def _assert_faults_came_after_every_page_connected(history: History) -> None:
    first_fault = history.of_kind(Kind.FAULT_START)[0].t_ns
    first_response = {r.client: r.t_ns for r in reversed(history.of_kind(Kind.RESPONSE))}
    assert len(first_response) == 2
    assert max(first_response.values()) < first_fault
    assert {r.client for r in history.of_kind(Kind.LOOP_LAG)} == {HARNESS, *first_response}  # pages sample too


@pytest.mark.asyncio
async def test_broken_server_fails_the_matching_checks(tmp_path: Path) -> None:
    require_toxiproxy()
    scenario = tmp_path / "plain.toml"
    scenario.write_text('name = "plain"\ndescription = "no faults"\n[clients]\ncount = 1\ndeadline = "5s"\n')
    async with broken_server() as url, toxiproxy(tmp_path) as api, new_http_client() as http:
        run = await Runner(Target(url, DEFAULT_PROFILE), api, http).run(load_scenario(scenario))
    verdicts = {result.name: result for result in run.results}
    assert run.error is None
    assert verdicts["no_duplicates"].status == Status.FAIL
    assert "sent twice" in verdicts["no_duplicates"].detail
    assert verdicts["heartbeat_timing"].status == Status.FAIL
    assert verdicts["no_loss"].status == Status.PASS  # the client dropped the copy: no loss, yet a duplicate
    assert verdicts["completion"].status == Status.PASS
    assert not run.passed


def test_bad_scenario_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\ndescription = "x"\ncolour = "red"\n[[faults]]\nat = "2 fortnights"\naction = "down"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "colour" in result.stderr
    assert "faults.0.at" in result.stderr


def test_toxiproxy_killed_mid_run_is_an_error_then_restarted(tmp_path: Path) -> None:
    require_toxiproxy()
    report = tmp_path / "report"
    command = [sys.executable, "-m", "harness.cli", "run", "--parallel", "1", "--report-dir", str(report)]
    cli = subprocess.Popen(
        [*command, "--scenario", "network-interruption", "--scenario", "baseline"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        toxiproxy_pid = _wait_for_toxiproxy_with_a_proxy(cli.pid)
        os.kill(toxiproxy_pid, signal.SIGKILL)
        _stdout, stderr = cli.communicate(timeout=120)
    finally:
        cli.kill()
        cli.wait()
    assert cli.returncode == 2, stderr[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    interrupted, after = summary["scenarios"]
    assert interrupted["name"] == "network-interruption"
    assert "toxiproxy" in interrupted["error"]
    assert after["name"] == "baseline"
    assert after["passed"], after
    assert (report / "histories" / "network-interruption.json").exists()
    assert "network-interruption" in (report / "report.html").read_text()


def _wait_for_toxiproxy_with_a_proxy(parent: int) -> int:
    """The pid of the parent's toxiproxy-server, once it has a proxy (a scenario is running)."""
    give_up_at = time.monotonic() + 60
    while time.monotonic() < give_up_at:
        for pid in _children(parent):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if not args[0].endswith(b"toxiproxy-server"):
                continue
            url = f"http://127.0.0.1:{int(args[args.index(b'-port') + 1])}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/proxies", timeout=1).json():
                    return pid
        time.sleep(0.05)
    raise AssertionError("no toxiproxy-server with a proxy appeared")


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def test_sigterm_stops_the_run_and_everything_it_started(tmp_path: Path) -> None:
    require_toxiproxy()
    cli = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--scenario", "network-interruption", "--report-dir", tmp_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_toxiproxy_with_a_proxy(cli.pid)
        started = _children(cli.pid)
        cli.send_signal(signal.SIGTERM)
        _stdout, stderr = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.wait()
    assert cli.returncode == 2
    assert "interrupted" in stderr
    assert started
    assert not any(Path(f"/proc/{pid}").exists() for pid in started)  # server and Toxiproxy stopped
