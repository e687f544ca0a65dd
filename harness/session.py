"""One session setup, shared by the CLI and the pytest plugin: the target (the embedded
reference server unless a URL is given), Toxiproxy, the HTTP client, the browser on demand,
and the runner over them. Everything it starts is stopped when its block ends, on every path.

A scenario with a `[deployment]` (instances behind a real proxy) gets that deployment, started
for it and stopped after it, when the run has no target of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.browser import chromium_on_demand
from harness.deploy.base import Deployment
from harness.deploy.commands import CommandDeployment, DeploymentFile
from harness.deploy.embedded import EmbeddedDeployment, embedded_deployment
from harness.deploy.spec import SINGLE_SERVER, DeploymentSpec
from harness.embedded import TIMING_PROFILES
from harness.errors import ConfigurationError, HarnessError
from harness.history import History
from harness.profile import TargetProfile
from harness.results import ScenarioRun
from harness.runner import Runner, StartGate
from harness.scenario import Scenario
from harness.share import WHOLE, Share
from harness.target import Target
from harness.toxiproxy import toxiproxy
from harness.transport import new_http_client


@dataclass(frozen=True)
class SessionSettings:
    """`target_url` None: the embedded reference server, with the `timing` profile's timings."""

    target_url: str | None
    profile: TargetProfile
    headers: Mapping[str, str]
    timing: str
    work_dir: Path  # logs of the processes the session starts
    report_dir: Path | None = None  # browser screenshots go here
    defect: str | None = None  # seeded in the embedded server (`sse-chaos selftest`)
    deployment_file: DeploymentFile | None = None  # the commands of the target's own deployment
    workers: int = 1  # worker processes a scenario's HTTP clients are split over (1: all in this one)
    share: Share = WHOLE  # the clients of each scenario this process runs
    start_gate: StartGate | None = None  # holds each scenario's timeline (a shard's slots)


@asynccontextmanager
async def reference_deployment(
    timing: str, work_dir: Path, defect: str | None = None, spec: DeploymentSpec = SINGLE_SERVER
) -> AsyncIterator[EmbeddedDeployment]:
    """The embedded reference server (or servers, behind their proxy), with `defect` seeded."""
    if timing not in TIMING_PROFILES:
        raise ConfigurationError(f"timing must be one of {', '.join(TIMING_PROFILES)}, not {timing!r}")
    async with embedded_deployment(spec, TIMING_PROFILES[timing], work_dir, defect) as deployment:
        yield deployment


@asynccontextmanager
async def reference_server(timing: str, work_dir: Path, defect: str | None = None) -> AsyncIterator[str]:
    """The embedded reference server's stream URL (with `defect` seeded), for the time of the block."""
    async with reference_deployment(timing, work_dir, defect) as deployment:
        yield deployment.stream_url


@asynccontextmanager
async def harness_for(
    target: Target,
    work_dir: Path,
    report_dir: Path | None = None,
    deployment: Deployment | None = None,
    share: Share = WHOLE,
    start_gate: StartGate | None = None,
    workers: int = 1,
) -> AsyncIterator[Runner]:
    """Toxiproxy, the HTTP client and the browser (launched on first need), and a runner over them
    that splits a scenario's HTTP clients over `workers` processes."""
    async with (
        toxiproxy(work_dir) as api,
        new_http_client() as http,
        chromium_on_demand() as chromium,
    ):
        yield Runner(target, api, http, chromium, report_dir, deployment, share, workers, start_gate)


class SessionRunner:
    """The session's runner; for a scenario with a `[deployment]` on the embedded target, a runner
    over that deployment, started for the scenario and stopped after it."""

    def __init__(self, runner: Runner, settings: SessionSettings) -> None:
        self.runner = runner
        self.settings = settings

    async def run(self, scenario: Scenario, on_progress: Callable[[str], None] | None = None) -> ScenarioRun:
        if scenario.deployment is None or self.settings.target_url is not None:
            return await self.runner.run(scenario, on_progress)
        settings, shared = self.settings, self.runner
        directory = settings.work_dir / "deployments" / scenario.name
        directory.mkdir(parents=True, exist_ok=True)
        try:
            async with reference_deployment(
                settings.timing, directory, settings.defect, scenario.deployment
            ) as deployment:
                target = Target(deployment.stream_url, settings.profile, settings.headers)
                runner = Runner(
                    target,
                    shared.api,
                    shared.http,
                    shared.chromium,
                    shared.report_dir,
                    deployment.fleet,
                    shared.share,
                    shared.workers,
                    shared.start_gate,
                )
                return await runner.run(scenario, on_progress)
        except HarnessError as error:  # the deployment did not start: the scenario could not run
            return ScenarioRun(scenario.name, scenario.description, History(), error=str(error))

    async def restart_toxiproxy(self) -> None:
        await self.runner.restart_toxiproxy()


@asynccontextmanager
async def session(settings: SessionSettings) -> AsyncIterator[SessionRunner]:
    async with AsyncExitStack() as stack:
        url = settings.target_url
        deployment: Deployment | None = None
        if settings.deployment_file is not None:
            deployment = CommandDeployment(settings.deployment_file)
        if url is None:
            embedded = await stack.enter_async_context(
                reference_deployment(settings.timing, settings.work_dir, settings.defect)
            )
            url, deployment = embedded.stream_url, embedded.fleet
        target = Target(url, settings.profile, settings.headers)
        runner = await stack.enter_async_context(
            harness_for(
                target,
                settings.work_dir,
                settings.report_dir,
                deployment,
                settings.share,
                settings.start_gate,
                settings.workers,
            )
        )
        yield SessionRunner(runner, settings)
