"""The open-file limit: raised at start (the soft limit to the hard one; as root, the hard limit
too, where that is allowed) by the reference server and the harness, and one warning line with
the fix when it stays below what is asked."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.deploy.balancers import haproxy_config
from harness.profile import DEFAULT_PROFILE
from harness.runner import Runner
from harness.scenario import Scenario
from harness.target import Target
from harness.toxiproxy import ToxiproxyAPI
from harness.transport import new_http_client
from reference_server import open_files
from reference_server.open_files import OWN_FILES, ROOT_CEILING, UNLIMITED, OpenFileLimit, raise_open_file_limit
from tests.helpers.hostile_servers import hostile_server

ROOT = Path(__file__).resolve().parent.parent
_READY_SECONDS = 20.0


def test_a_limit_at_or_above_the_need_says_nothing() -> None:
    assert OpenFileLimit(1000 + OWN_FILES, 1000 + OWN_FILES).shortfall(1000, "1,000 streams") is None
    assert OpenFileLimit(UNLIMITED, UNLIMITED).shortfall(10**9, "many streams") is None


def test_a_soft_limit_below_the_need_is_one_line_with_the_fix() -> None:
    warning = OpenFileLimit(1000 + OWN_FILES - 1, 100_000).shortfall(1000, "MAX_STREAMS=1,000 streams")
    assert warning == (
        "open-file limit 1,255 (hard 100,000) is below the 1,256 that MAX_STREAMS=1,000 streams need;"
        " fix: ulimit -n 1256"
    )


def test_a_hard_limit_below_the_need_names_where_to_raise_it() -> None:
    warning = OpenFileLimit(20_000, 20_000).shortfall(40_000, "MAX_STREAMS=40,000 streams")
    assert warning is not None
    assert "\n" not in warning
    assert warning.startswith("open-file limit 20,000 (hard 20,000) is below the 40,256 that MAX_STREAMS=40,000")
    for fix in ("ulimit -Hn 40256", "LimitNOFILE=40256", "--ulimit nofile=40256", "Kubernetes"):
        assert fix in warning


def _python(code: str, soft: int, hard: int) -> str:
    """Run `code` in a Python process started with the open-file limit (soft, hard); its stdout."""

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, preexec_fn=lowered, env=environment
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    code = "from reference_server.open_files import raise_open_file_limit as r; l = r(); print(l.soft, l.hard)"
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    assert _python(code, 512, hard) == f"{hard} {hard}"


class _Kernel:
    """setrlimit as a kernel answers it: a hard limit above `allowed` is refused (not root, or no
    CAP_SYS_RESOURCE), as is a soft limit above the hard one."""

    def __init__(self, soft: int, hard: int, allowed: int) -> None:
        self.limits = (soft, hard)
        self.allowed = allowed

    def getrlimit(self, which: int) -> tuple[int, int]:
        return self.limits

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        soft, hard = limits
        if soft > hard or (hard > self.limits[1] and hard > self.allowed):
            raise ValueError("not allowed to raise maximum limit")
        self.limits = limits


@contextmanager
def _kernel(monkeypatch: pytest.MonkeyPatch, soft: int, hard: int, allowed: int) -> Iterator[_Kernel]:
    kernel = _Kernel(soft, hard, allowed)
    monkeypatch.setattr(open_files.resource, "getrlimit", kernel.getrlimit)
    monkeypatch.setattr(open_files.resource, "setrlimit", kernel.setrlimit)
    yield kernel


def test_root_raises_the_hard_limit_to_nr_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nr_open = tmp_path / "nr_open"
    nr_open.write_text("200000\n")
    with _kernel(monkeypatch, 1024, 20_000, allowed=10**9):
        assert raise_open_file_limit(nr_open) == OpenFileLimit(200_000, 200_000)


def test_root_raises_the_hard_limit_no_further_than_the_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nr_open = tmp_path / "nr_open"
    nr_open.write_text("1073741816\n")
    with _kernel(monkeypatch, 1024, 20_000, allowed=10**9):
        assert raise_open_file_limit(nr_open) == OpenFileLimit(ROOT_CEILING, ROOT_CEILING)


def test_a_hard_limit_the_kernel_refuses_to_raise_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nr_open = tmp_path / "nr_open"
    nr_open.write_text("1048576\n")
    with _kernel(monkeypatch, 1024, 20_000, allowed=20_000):
        assert raise_open_file_limit(nr_open) == OpenFileLimit(20_000, 20_000)
    with _kernel(monkeypatch, 1024, 20_000, allowed=10**9):  # no nr_open (not Linux): the hard limit stays
        assert raise_open_file_limit(tmp_path / "absent") == OpenFileLimit(20_000, 20_000)


def _server_limits(max_streams: int, soft: int, hard: int) -> tuple[str, str]:
    """Start the reference server with this open-file limit and MAX_STREAMS, until it listens:
    the soft limit it runs with (from /proc), and what it logged."""

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    environment = os.environ | {"PYTHONPATH": str(ROOT), "MAX_STREAMS": str(max_streams)}
    command = [sys.executable, "-m", "reference_server", "--port", "0", "--log-level", "warning"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=lowered, env=environment
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("listening on ")
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        soft_now = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max open files"))
    finally:
        process.terminate()
        _, logged = process.communicate(timeout=_READY_SECONDS)
    return soft_now, logged


def test_the_server_raises_its_limit_and_says_nothing_when_max_streams_fits() -> None:
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    soft, logged = _server_limits(hard - OWN_FILES, 512, hard)
    assert soft == str(hard)
    assert "open-file limit" not in logged


def test_the_server_warns_once_when_max_streams_is_beyond_its_limit() -> None:
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    _, logged = _server_limits(hard, 512, hard)
    warnings = [line for line in logged.splitlines() if "open-file limit" in line]
    assert len(warnings) == 1, logged
    assert f"is below the {hard + OWN_FILES:,} that MAX_STREAMS={hard:,} streams need; fix: " in warnings[0]


def _scenario(clients: int) -> Scenario:
    return Scenario.model_validate({"name": f"many-{clients}", "description": "d", "clients": {"count": clients}})


@pytest.mark.asyncio
async def test_the_harness_warns_once_of_a_scenario_with_more_clients_than_files(
    api: ToxiproxyAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    async with hostile_server("server-error") as url, new_http_client() as http:
        runner = Runner(Target(url, DEFAULT_PROFILE), api, http)
        runner.open_files = OpenFileLimit(OWN_FILES + 10, OWN_FILES + 10)
        for scenario in (_scenario(10), _scenario(11), _scenario(11)):
            await runner.run(scenario)
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        f"warning: open-file limit {OWN_FILES + 10} (hard {OWN_FILES + 10}) is below the {OWN_FILES + 11} that"
        f" scenario many-11's 11 clients need; fix: raise the hard limit: ulimit -Hn {OWN_FILES + 11} as root"
        f" before starting it, LimitNOFILE={OWN_FILES + 11} in its systemd unit, docker run --ulimit"
        f" nofile={OWN_FILES + 11}; on Kubernetes, the container runtime's LimitNOFILE"
    ]


def test_the_connections_a_limit_allows_leave_the_process_its_own_files() -> None:
    assert OpenFileLimit(20_000, 20_000).connections() == 20_000 - OWN_FILES
    assert OpenFileLimit(20_000, 20_000).connections(2) == (20_000 - OWN_FILES) // 2
    assert OpenFileLimit(100, 100).connections() == 0
    assert OpenFileLimit(UNLIMITED, UNLIMITED).connections(2) == (ROOT_CEILING - OWN_FILES) // 2


def test_haproxy_takes_as_many_streams_as_its_open_file_limit_allows() -> None:
    config = haproxy_config("127.0.0.1", 8000, [("i0", 8001)], 60.0, OpenFileLimit(20_000, 20_000))
    assert f"\n    maxconn {(20_000 - OWN_FILES) // 2}\n" in config
