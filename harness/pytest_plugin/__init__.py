"""The pytest plugin (registered as `sse_chaos`): scenario files as tests, fixtures, options.

    pytest scenarios/                                  # every scenario file is a test item
    pytest scenarios/ --sse-target http://host:8000/stream/search
    pytest scenarios/ --sse-target https://host/stream --sse-header "Authorization: Bearer $TOKEN"
    pytest scenarios/ --sse-report-dir reports/ci      # also write the report directory
    pytest scenarios/ --sse-workers 2                  # HTTP clients split over 2 worker processes

Fixtures, all synchronous (the plugin runs its own event loop in a thread, so a test needs
no async plugin):

- `sse_reference_server`: URL of the reference server's stream endpoint, fast timings.
- `sse_target`: the URL under test: `--sse-target`, else the reference server.
- `sse_toxiproxy`: the Toxiproxy server of the session (`.url`, `.proxy(name, upstream)`).
- `sse_proxy`: a fresh proxy to the target with blocking fault controls, deleted afterwards.
- `sse_run_scenario`: run a scenario (name, file or `Scenario`) and get its `ScenarioRun`;
  the verdicts are attached to the test's report and JUnit properties.

Everything the session starts (reference server, Toxiproxy) is stopped when it ends.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from harness.errors import HarnessError
from harness.pytest_plugin.loop import LoopThread
from harness.pytest_plugin.toxiproxy import SyncProxy, SyncToxiproxy
from harness.results import ScenarioRun, verdict_lines

if TYPE_CHECKING:
    from harness.runner import Runner
    from harness.scenario import Scenario

T = TypeVar("T")
_START_SECONDS = 60.0
_SCENARIO_SECONDS = 1800.0  # the runner's own hard deadline ends a scenario well before this
_API_SECONDS = 30.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sse-chaos", "SSE chaos and conformance")
    group.addoption("--sse-target", metavar="URL", help="SSE endpoint under test (default: the reference server)")
    group.addoption("--sse-profile", metavar="NAME|FILE", help="target profile for --sse-target")
    group.addoption(
        "--sse-header", metavar="'NAME: VALUE'", action="append", default=[], help="on every request (repeatable)"
    )
    group.addoption(
        "--sse-profile-field", metavar="KEY=VALUE", action="append", default=[], help="over the profile (repeatable)"
    )
    group.addoption("--sse-timing", choices=["fast", "seed"], default="fast", help="reference server timings")
    group.addoption("--sse-report-dir", metavar="DIR", type=Path, help="write the report directory here")
    group.addoption(
        "--sse-workers",
        metavar="N",
        type=_workers,
        default=1,
        help="worker processes a scenario's HTTP clients are split over (default 1: this one)",
    )


def _workers(text: str) -> int:
    """--sse-workers: a count from 1 to MAX_WORKERS (argparse turns the error into a usage error)."""
    from harness.workers import MAX_WORKERS

    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"a number of worker processes from 1 to {MAX_WORKERS}, not {text[:40]!r}")
    return int(text)


@dataclass
class _Session:
    """What a pytest session shares: the loop, the processes it started, the runs for the report."""

    config: pytest.Config
    loop: LoopThread = field(default_factory=LoopThread)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sse-chaos-pytest-")))
    runs: list[ScenarioRun] = field(default_factory=list)
    _reference_url: str | None = None
    _runner: Runner | None = None

    def reference_server(self) -> str:
        if self._reference_url is None:
            from harness.session import reference_server

            started = reference_server(self.config.getoption("sse_timing"), self.work_dir)
            self._reference_url = self.loop.run(self.stack.enter_async_context(started), _START_SECONDS)
        return self._reference_url

    def runner(self) -> Runner:
        if self._runner is None:
            from harness.profile import load_profile
            from harness.session import harness_for
            from harness.target import Target, parse_headers

            profile = load_profile(self.config.getoption("sse_profile"), self.config.getoption("sse_profile_field"))
            url = self.config.getoption("sse_target") or self.reference_server()
            target = Target(url, profile, parse_headers(self.config.getoption("sse_header"), profile))
            started = harness_for(target, self.work_dir, workers=self.config.getoption("sse_workers"))
            self._runner = self.loop.run(self.stack.enter_async_context(started), _START_SECONDS)
        return self._runner

    def run_scenario(self, scenario: Scenario) -> ScenarioRun:
        run = self.loop.run(self.runner().run(scenario), _SCENARIO_SECONDS)
        self.runs.append(run)
        return run

    def call(self, call: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await call

        return self.loop.run(wrapped(), _API_SECONDS)

    def close(self) -> None:
        try:
            self._write_report()
        finally:
            self.loop.run(self.stack.aclose(), _START_SECONDS)
            self.loop.close()
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _write_report(self) -> None:
        report_dir: Path | None = self.config.getoption("sse_report_dir")
        if report_dir is None or not self.runs:
            return
        from harness.report import write_history, write_report

        report_dir.mkdir(parents=True, exist_ok=True)
        for run in self.runs:
            write_history(report_dir, run)
        write_report(report_dir, self.runs)


_SESSION = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session:
    if _SESSION not in config.stash:
        config.stash[_SESSION] = _Session(config)
    return config.stash[_SESSION]


def pytest_sessionfinish(session: pytest.Session) -> None:
    shared = session.config.stash.get(_SESSION, None)
    if shared is not None:
        del session.config.stash[_SESSION]
        shared.close()


# --- scenario files as test items --------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """TOML files in a folder named `scenarios` (not its `profiles/`) are scenario tests."""
    if file_path.suffix == ".toml" and file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        from harness.scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
        except HarnessError as error:
            raise self.CollectError(str(error)) from None
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioFailed(Exception):
    def __init__(self, run: ScenarioRun) -> None:
        super().__init__(run.name)
        self.run = run


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        run = _session(self.config).run_scenario(self.scenario)
        _attach(self, run)
        if not run.passed:
            raise ScenarioFailed(run)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return _failure_text(excinfo.value.run)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"


def _attach(item: pytest.Item, run: ScenarioRun) -> None:
    """Verdicts into the JUnit properties and a report section, pass or fail."""
    item.user_properties.append(("sse_chaos.scenario", run.name))
    if run.error:
        item.user_properties.append(("sse_chaos.error", run.error))
    for result in run.results:
        item.user_properties.append((f"sse_chaos.{result.name}", f"{result.status.value}: {result.detail}"))
    item.add_report_section("call", "sse-chaos verdicts", _verdict_text(run))


def _verdict_text(run: ScenarioRun) -> str:
    lines = verdict_lines(run)
    return "\n".join([f"{run.name}: {run.verdict} in {run.wall_seconds:.1f} s", *(f"  {line}" for line in lines)])


def _failure_text(run: ScenarioRun) -> str:
    return "\n".join([f"scenario {run.name}: {run.verdict}", *verdict_lines(run, failed_only=True, evidence=True)])


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sse_reference_server(pytestconfig: pytest.Config) -> str:
    return _session(pytestconfig).reference_server()


@pytest.fixture(scope="session")
def sse_target(pytestconfig: pytest.Config) -> str:
    return _session(pytestconfig).runner().target.url


@pytest.fixture(scope="session")
def sse_toxiproxy(pytestconfig: pytest.Config) -> SyncToxiproxy:
    shared = _session(pytestconfig)
    return SyncToxiproxy(shared.runner().api, shared.call)


@pytest.fixture
def sse_proxy(sse_toxiproxy: SyncToxiproxy, sse_target: str, request: pytest.FixtureRequest) -> Iterator[SyncProxy]:
    import httpx

    from harness.transport import upstream_address, url_at

    target = httpx.URL(sse_target)
    name = f"pytest-{request.node.name}"[:100]
    proxy = sse_toxiproxy.proxy(name, upstream_address(target))
    url = str(url_at(target, proxy.address))
    try:
        yield SyncProxy(proxy, url, sse_toxiproxy.api, sse_toxiproxy.call)
    finally:
        sse_toxiproxy.delete(name)


@pytest.fixture
def sse_run_scenario(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Callable[..., ScenarioRun]:
    """Run a scenario by catalogue name, file path or `Scenario`; its verdicts join the test's report."""
    from harness.scenario import Scenario, find_scenarios, load_scenario

    def run(scenario: str | Path | Scenario) -> ScenarioRun:
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(find_scenarios([str(scenario)])[0])
        result = _session(pytestconfig).run_scenario(scenario)
        _attach(request.node, result)
        return result

    return run
