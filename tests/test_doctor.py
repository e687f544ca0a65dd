"""`sse-chaos doctor`: each item ok, a warning or missing, in one line with its fix; exit 1 when
the default run misses something."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.doctor import (
    Finding,
    Status,
    fonts_finding,
    open_files_finding,
    parser_finding,
    ports_finding,
    python_finding,
    target_finding,
    toxiproxy_finding,
)
from harness.embedded import EmbeddedServer
from harness.profile import DEFAULT_PROFILE
from harness.scenario import Scenario
from harness.target import Target
from harness.toxiproxy import find_binary
from harness.toxiproxy.binary import install_hint
from harness.toxiproxy.server import free_port
from reference_server.open_files import OWN_FILES, OpenFileLimit
from tests.helpers.toxiproxy import require_toxiproxy

LARGEST = Scenario.model_validate({"name": "big", "description": "d", "clients": {"count": 600}})


def _doctor(tmp_path: Path, **env: str | None) -> tuple[int, list[str]]:
    """`sse-chaos doctor` in a process of its own, with these variables set (None: unset)."""
    environment = os.environ | {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for name, value in env.items():
        environment.pop(name, None)
        if value is not None:
            environment[name] = value
    command = [sys.executable, "-m", "harness.cli", "doctor"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    return result.returncode, result.stdout.splitlines()


def _line(lines: list[str], item: str) -> str:
    found = [line for line in lines if line[9:25].rstrip() == item]
    assert len(found) == 1, lines
    return found[0]


def test_a_toxiproxy_variable_pointing_at_nothing_is_one_missing_line_with_the_fix(tmp_path: Path) -> None:
    status, lines = _doctor(tmp_path, TOXIPROXY_SERVER=str(tmp_path / "absent"), TOXIPROXY_URL=None)
    assert status == 1
    assert _line(lines, "toxiproxy") == (
        f"missing  toxiproxy        TOXIPROXY_SERVER='{tmp_path / 'absent'}' is not an executable file; fix: point it"
        f" at toxiproxy-server, or unset it; to install one, {install_hint()}"
    )


def test_no_toxiproxy_anywhere_is_one_missing_line_with_the_fix(tmp_path: Path) -> None:
    status, lines = _doctor(tmp_path, TOXIPROXY_SERVER=None, TOXIPROXY_URL=None, PATH="/usr/bin:/bin")
    assert status == 1
    line = _line(lines, "toxiproxy")
    assert line.startswith(f"missing  toxiproxy        toxiproxy-server not found ($TOXIPROXY_SERVER, PATH, {tmp_path}")
    assert line.endswith(f"; fix: {install_hint()}, or set TOXIPROXY_SERVER or TOXIPROXY_URL")


def test_a_chromium_variable_pointing_at_nothing_is_one_missing_line_with_the_fix(tmp_path: Path) -> None:
    status, lines = _doctor(tmp_path, SSE_CHAOS_CHROMIUM=str(tmp_path / "absent"))
    assert status == 1
    assert _line(lines, "chromium") == (
        f"missing  chromium         SSE_CHAOS_CHROMIUM='{tmp_path / 'absent'}' is not an executable file; fix: point"
        " it at a Chromium executable, or unset it"
    )


def test_no_chromium_anywhere_is_one_missing_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "no-browsers").mkdir()
    status, lines = _doctor(
        tmp_path, SSE_CHAOS_CHROMIUM=None, PATH=str(tmp_path), PLAYWRIGHT_BROWSERS_PATH=str(tmp_path / "no-browsers")
    )
    assert status == 1
    assert _line(lines, "chromium") == (
        "missing  chromium         browser clients need Chromium and none was found ($SSE_CHAOS_CHROMIUM, PATH,"
        " Playwright's own); fix: apt-get install chromium, or `python -m playwright install chromium`, or set"
        " SSE_CHAOS_CHROMIUM"
    )


def test_playwright_s_own_chromium_is_found_when_it_is_the_only_one(tmp_path: Path) -> None:
    own = tmp_path / "chrome"
    own.write_text("#!/bin/sh\necho Chromium 1.2.3\n")
    own.chmod(0o755)
    code = (
        "from harness.browser.chromium import find_chromium;"
        f"found = find_chromium(lambda: {str(own)!r}); print(found.path, '|', found.where)"
    )
    environment = os.environ | {"PATH": str(tmp_path / "empty")}
    environment.pop("SSE_CHAOS_CHROMIUM", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=environment)
    assert result.stdout.strip() == f"{own} | Playwright's own"


def test_with_everything_there_every_line_is_ok_or_a_warning_and_the_exit_is_zero(tmp_path: Path) -> None:
    require_toxiproxy()
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    status, lines = _doctor(tmp_path, TOXIPROXY_SERVER=str(find_binary()), TOXIPROXY_URL=None, SSE_CHAOS_CHROMIUM=None)
    assert status == 0, lines
    items = [line[9:25].rstrip() for line in lines]
    assert items == ["python", "parser", "catalogue", "toxiproxy", "chromium", "fonts", "open files", "ports"]
    assert all(line.startswith(("ok ", "warning ")) for line in lines), lines
    assert _line(lines, "toxiproxy").endswith("(from $TOXIPROXY_SERVER)")
    assert _line(lines, "chromium").startswith("ok       chromium         Chromium ")
    assert "unexpected operator" not in "\n".join(lines)


def test_an_external_toxiproxy_that_does_not_answer_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("TOXIPROXY_URL", url)
    finding = toxiproxy_finding()
    assert (finding.status, finding.fix) == (
        Status.MISSING,
        "start that Toxiproxy, or unset TOXIPROXY_URL to let sse-chaos start its own",
    )
    assert finding.detail.startswith(f"TOXIPROXY_URL={url!r} does not answer: ")


def test_the_python_version() -> None:
    assert python_finding((3, 11, 4)).status == Status.OK
    assert python_finding((3, 11, 4)).detail.startswith("3.11.4 (")
    assert python_finding((3, 10, 12)) == Finding(
        "python", Status.MISSING, "3.10.12: sse-chaos needs 3.11 or newer", "install it with Python 3.11+"
    )


def test_the_python_parser_is_a_warning_not_a_missing_need() -> None:
    assert parser_finding(True).status == Status.OK
    assert parser_finding(False).status == Status.WARNING
    assert parser_finding(False).detail.startswith("the compiled SSE parser was not built")


def test_the_open_file_limit_against_the_largest_scenario() -> None:
    need = 600 + OWN_FILES
    assert open_files_finding(LARGEST, OpenFileLimit(need, need)).status == Status.OK
    assert (
        open_files_finding(LARGEST, OpenFileLimit(resource.RLIM_INFINITY, resource.RLIM_INFINITY)).status == Status.OK
    )
    low = open_files_finding(LARGEST, OpenFileLimit(need - 1, 100_000))
    assert (low.status, low.fix) == (Status.MISSING, f"ulimit -n {need}")
    assert (
        low.detail == f"{need - 1} (hard 100,000) allowed; the largest scenario (big, 600 clients) needs about {need}"
    )
    assert open_files_finding(LARGEST, OpenFileLimit(64, 128)).fix.startswith(
        f"raise the hard limit: ulimit -Hn {need}"
    )


def test_the_ephemeral_ports_against_the_largest_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port_range = tmp_path / "ip_local_port_range"
    monkeypatch.setattr("harness.doctor._PORT_RANGE", port_range)
    port_range.write_text("60000\t61199\n")
    assert ports_finding(LARGEST).status == Status.OK
    port_range.write_text("60000\t61198\n")
    few = ports_finding(LARGEST)
    assert few.status == Status.MISSING
    assert few.detail == "1199 ephemeral ports (60000-61198); the largest scenario (big) uses about 1200"
    assert few.fix == "sysctl net.ipv4.ip_local_port_range='59999 61198'"


def _fake_fc_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prints: str) -> None:
    fc_list = tmp_path / "fc-list"
    fc_list.write_text(f"#!/bin/sh\ncase \"$1\" in {prints}) echo 'Some Font';; esac\n")
    fc_list.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_fonts_for_the_reference_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_fc_list(tmp_path, monkeypatch, ":charset=6771|:charset=1f680")
    assert fonts_finding().status == Status.OK
    _fake_fc_list(tmp_path, monkeypatch, ":charset=6771")
    assert fonts_finding() == Finding(
        "fonts",
        Status.WARNING,
        "no font for emoji (🚀): screenshots show those characters as boxes",
        "apt-get install fonts-wqy-microhei fonts-noto-color-emoji",
    )
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert fonts_finding().detail == "cannot tell: fc-list (fontconfig) is not installed"


def test_a_target_that_answers_shows_what_it_advertises(server: EmbeddedServer) -> None:
    finding = target_finding(Target(server.stream_url, DEFAULT_PROFILE))
    assert finding.status == Status.OK
    assert finding.detail.startswith(f"{server.stream_url!r} answered: heartbeat ")
    assert " s, silence " in finding.detail
    assert " s, cap " in finding.detail


def test_a_target_that_does_not_answer_is_missing() -> None:
    url = f"http://127.0.0.1:{free_port()}/stream"
    finding = target_finding(Target(url, DEFAULT_PROFILE))
    assert finding == Finding(
        "target",
        Status.MISSING,
        f"the target {url} did not answer: ConnectError",
        "start the server under test, or check --target and -H",
    )
