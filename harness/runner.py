"""Runs one scenario: plans it against the target, then plays the plan (proxies, the nemesis's
fault timeline, the clients) into a history, and judges the history with the checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.baseline import Baselines
from harness.browser import BrowserClient, Chromium, page_cannot_speak, warm_up
from harness.checks import CHECKS, CheckResult, Status, none_applicable, run_checks
from harness.client import RobustClient, client_name, planned_settings
from harness.deploy.base import Deployment
from harness.errors import ConfigurationError, EnvironmentProblem, HarnessError
from harness.figures import latency_figures
from harness.history import History
from harness.loop_lag import loop_lag_sampled
from harness.nemesis import Nemesis
from harness.plan import Plan, make_plan
from harness.results import ScenarioRun
from harness.scenario import Scenario
from harness.share import WHOLE, Share
from harness.target import Target, Timing, probe_timing
from harness.toxiproxy import Proxy, ToxiproxyAPI, ToxiproxyUnavailable
from harness.transport import upstream_address, url_at
from harness.workers.coordinator import Prepared, workers_started
from reference_server.collector import collector_paused
from reference_server.open_files import raise_open_file_limit

# How long a browser scenario's fault timeline waits for its pages' streams to start.
_BROWSER_START_SECONDS = 5.0
# How long Chromium may take to start, warm up and load a scenario's pages (cold: a few seconds).
_BROWSER_READY_SECONDS = 60.0
# How long before a gated scenario's start its worker processes are started and given their parts:
# they take a quarter of a second on an idle machine, seconds on a busy one; a prepared worker
# waits at most SPEC_SECONDS (60 s) for its start, so the lead stays well under that.
WORKERS_LEAD_SECONDS = 10.0
SCREENSHOTS = "screenshots"  # in the report directory: one folder per scenario, one file per browser client

Progress = Callable[[str], None]
Client = RobustClient | BrowserClient


class StartGate(Protocol):
    """Holds each scenario until its timeline may start (a shard's slot), in two steps, so that
    what must be ready at the start (worker processes) is set up just before it."""

    async def approach(self, plan: Plan, lead_seconds: float) -> None:
        """Until `lead_seconds` before the scenario's start; at once when it is nearer."""

    async def open(self, plan: Plan, history: History) -> None:
        """Until the scenario's start, the history anchored there; an error when it has passed."""


class Runner:
    def __init__(
        self,
        target: Target,
        api: ToxiproxyAPI,
        http: httpx.AsyncClient,
        chromium: Chromium | None = None,
        report_dir: Path | None = None,
        deployment: Deployment | None = None,
        share: Share = WHOLE,
        workers: int = 1,
        start_gate: StartGate | None = None,
    ) -> None:
        """`chromium` launches the browser for browser clients (without it they are a configuration
        error); with a `report_dir`, each browser page's final screenshot is kept under it; process
        faults act on `deployment` (without one they are an error); only the `share` of each
        scenario's clients runs here (the others run in other processes), split over `workers`
        worker processes when there are more than one (HTTP clients on one timeline; see `_played_by`); each
        scenario's timeline starts once `start_gate` opens, its workers started and given their clients
        when the gate is WORKERS_LEAD_SECONDS away."""
        self.target = target
        self.deployment = deployment
        self.api = api
        self.http = http
        self.chromium = chromium
        self.report_dir = report_dir
        self.share = share
        self.workers = workers
        self.start_gate = start_gate
        self.baselines = Baselines(target, http)
        self._timing: Timing | None = None
        self._runs = 0
        self.open_files = raise_open_file_limit()  # each client holds a descriptor
        self._short_of_files: set[str] = set()  # the scenarios already warned of

    async def timing(self) -> Timing:
        """What the target advertises: read once, from a probe request's headers (or the profile)."""
        if self._timing is None:
            self._timing = await probe_timing(self.http, self.target)
        return self._timing

    async def restart_toxiproxy(self) -> None:
        await self.api.restart()

    async def plan(self, scenario: Scenario) -> Plan:
        return make_plan(scenario, self.target, await self.timing())

    async def run(self, scenario: Scenario, on_progress: Progress | None = None) -> ScenarioRun:
        started = time.monotonic()
        self._warn_of_open_files(scenario)
        history = History()
        run = ScenarioRun(scenario.name, scenario.description, history)
        try:
            history.plan = plan = await self.plan(scenario)
            unjudgeable = _unjudgeable(plan)
            if unjudgeable is not None:
                run.results = none_applicable(plan, unjudgeable)
            else:
                history.share_among(plan.clients.count)
                await self._play(plan, history, on_progress)
                # Checking a big history takes a good part of a second: off the event loop, where
                # another scenario's clients may be timing heartbeats.
                run.results = await asyncio.to_thread(run_checks, plan, history)
                run.figures = await asyncio.to_thread(latency_figures, plan, history)
                run.error = _baseline_error(history, run.results)
        except ToxiproxyUnavailable as error:
            run.error, run.toxiproxy_unavailable = str(error), True
        except HarnessError as error:
            run.error = str(error)
        run.wall_seconds = time.monotonic() - started
        return run

    def _warn_of_open_files(self, scenario: Scenario) -> None:
        """One line on stderr, once a scenario, when its clients here need more descriptors than allowed."""
        clients = len(self.share.indices(scenario.client_count))
        warning = self.open_files.shortfall(clients, f"scenario {scenario.name}'s {clients:,} clients")
        if warning is not None and scenario.name not in self._short_of_files:
            self._short_of_files.add(scenario.name)
            print(f"warning: {warning}", file=sys.stderr, flush=True)

    async def _play(self, plan: Plan, history: History, on_progress: Progress | None) -> None:
        """The clients and their faults under the plan's hard deadline, the loop's lag sampled."""
        baseline = asyncio.ensure_future(self.baselines.get(plan.request, plan.clients.deadline))
        if any(planned.fault.behind_the_proxy for planned in plan.faults):
            await asyncio.wait([baseline])  # its stream goes to the deployment the faults will act on
        async with self._proxies(plan) as proxies:
            if plan.sweep is not None:
                await self._through_start_gate(plan, history)
                await _timed(plan, history, self._swept(plan, history, proxies, on_progress))
            elif (workers := self._played_by(plan)) > 1:
                await self._near_start_gate(plan, WORKERS_LEAD_SECONDS)  # a worker waits for its start a bounded time
                async with workers_started(workers) as started:
                    headers, address = self.target.headers, proxies[0].address
                    prepared = await started.prepare(plan, history, self.share, headers, address)
                    await self._through_start_gate(plan, history)
                    await _timed(plan, history, self._over_workers(plan, history, proxies[0], prepared, on_progress))
            else:
                mine = self.share.indices(plan.clients.count)
                clients = [self._client(plan, history, proxies[0], index) for index in mine]
                browsers = [client for client in clients if isinstance(client, BrowserClient)]
                try:
                    await self._open_pages(plan, browsers)
                    await self._through_start_gate(plan, history)
                    await _timed(plan, history, self._shared(plan, history, proxies[0], clients, on_progress))
                finally:  # a page whose client never ran (cancelled, failed) is closed too
                    await _gather(browser.close() for browser in browsers)
        history.baseline = await baseline

    def _played_by(self, plan: Plan) -> int:
        """How many worker processes play the scenario's clients: HTTP clients on one timeline, at
        most one worker each. A browser client's page is driven through this process's Chromium,
        and each sweep client has a timeline of its own, started with it: those stay here."""
        if plan.clients.kind != "http" or plan.sweep is not None:
            return 1
        return min(self.workers, len(self.share.indices(plan.clients.count)))

    async def _over_workers(
        self, plan: Plan, history: History, proxy: Proxy, workers: Prepared, on_progress: Progress | None
    ) -> None:
        """This runner's share of the clients, played by worker processes under one fault timeline."""

        def finished() -> None:
            if on_progress is not None:
                on_progress(plan.scenario)

        work = workers.run(finished)
        await Nemesis(self.api, history, proxy.name, plan.timeline(), self.deployment).alongside(work)

    async def _open_pages(self, plan: Plan, browsers: list[BrowserClient]) -> None:
        """Launch (and warm) Chromium and load every page before the scenario's clock starts, under
        a deadline of their own: a cold machine can take a while, and that is not the scenario's time."""
        if not browsers or self.chromium is None:
            return
        try:
            async with asyncio.timeout(_BROWSER_READY_SECONDS):
                await warm_up(self.chromium)
                await _gather(browser.open() for browser in browsers)
        except TimeoutError:
            raise EnvironmentProblem(
                f"scenario {plan.scenario}: Chromium did not start and load its {len(browsers)} pages within"
                f" {_BROWSER_READY_SECONDS:g} s (a cold or very busy machine?)"
            ) from None

    @asynccontextmanager
    async def _proxies(self, plan: Plan) -> AsyncIterator[list[Proxy]]:
        """One proxy, or one per sweep lane; deleted on every path out."""
        upstream = upstream_address(httpx.URL(self.target.url))
        self._runs += 1
        count = plan.sweep.lanes if plan.sweep is not None else 1
        proxies: list[Proxy] = []
        try:
            for index in range(count):
                proxies.append(await self.api.create_proxy(f"sse-{self._runs}-{plan.scenario}-{index}", upstream))
            yield proxies
        finally:
            for proxy in proxies:
                with contextlib.suppress(HarnessError):
                    await self.api.delete_proxy(proxy.name)

    async def _shared(
        self, plan: Plan, history: History, proxy: Proxy, clients: list[Client], on_progress: Progress | None
    ) -> None:
        """All clients through one proxy, staggered, under one fault timeline. With browser
        clients (their pages loaded), the timeline starts when every page's first connection
        attempt has ended (connected or failed, at most 5 s): on a busy machine Chromium can
        take half a second to start a stream, and a fault due 0.5 s in would hit it too early."""
        browsers = [client for client in clients if isinstance(client, BrowserClient)]

        async def one_client(index: int, client: Client) -> None:
            await asyncio.sleep(index * plan.clients.stagger)
            await client.run()
            if on_progress is not None:
                on_progress(plan.scenario)

        numbered = zip(self.share.indices(plan.clients.count), clients, strict=True)
        work = _gather(one_client(index, client) for index, client in numbered)
        nemesis = Nemesis(self.api, history, proxy.name, plan.timeline(), self.deployment)
        await nemesis.alongside(work, partial(_first_attempts_ended, browsers) if browsers else None)

    async def _swept(self, plan: Plan, history: History, proxies: list[Proxy], on_progress: Progress | None) -> None:
        """One client per sweep value; each lane (proxy) runs its clients one after another."""

        async def lane(lane_index: int, proxy: Proxy) -> None:
            for index in filter(self.share.holds, range(lane_index, plan.clients.count, len(proxies))):
                client = self._client(plan, history, proxy, index)
                nemesis = Nemesis(self.api, history, proxy.name, plan.timeline(index), self.deployment)
                await nemesis.alongside(client.run())
                if on_progress is not None:
                    on_progress(plan.scenario)

        await _gather(lane(index, proxy) for index, proxy in enumerate(proxies))

    async def _near_start_gate(self, plan: Plan, lead_seconds: float) -> None:
        """Until `lead_seconds` before the start gate lets the scenario's timeline start."""
        if self.start_gate is not None:
            await self.start_gate.approach(plan, lead_seconds)

    async def _through_start_gate(self, plan: Plan, history: History) -> None:
        """Until the start gate lets the scenario's timeline start (a shard's slot)."""
        if self.start_gate is not None:
            await self.start_gate.open(plan, history)

    def _client(self, plan: Plan, history: History, proxy: Proxy, index: int) -> Client:
        settings = planned_settings(plan, self.target.headers, proxy.address)
        if plan.clients.kind == "http":
            return RobustClient(client_name(plan, index), settings, history, self.http, plan.profile)
        if self.chromium is None:
            raise ConfigurationError(f"scenario {plan.scenario} has browser clients, and this run has no browser")
        settings = dataclasses.replace(settings, url=self._page_stream_url(plan, proxy), connect_to=None)
        name = client_name(plan, index)
        screenshot = None
        if self.report_dir is not None:
            relative = f"{SCREENSHOTS}/{plan.scenario}/{name}.png"
            screenshot = self.report_dir / relative
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            history.screenshots.append(relative)
        return BrowserClient(name, settings, history, self.chromium, plan.profile, screenshot, plan.lag_sample_seconds)

    def _page_stream_url(self, plan: Plan, proxy: Proxy) -> str:
        """A page cannot name one server and connect to another: it streams from the target's
        URL at the proxy's address, so an https target's certificate would not match."""
        target = httpx.URL(self.target.url)
        if target.scheme == "https":
            raise ConfigurationError(
                f"scenario {plan.scenario} has browser clients, which reach an https target at the proxy's"
                " address, a name its certificate does not hold; run browser scenarios against an http target"
            )
        return str(url_at(target, proxy.address))


def _unjudgeable(plan: Plan) -> str | None:
    """Why no check of the scenario applies to this target, or None: its clients cannot speak to
    it, or what it proves is something the target cannot say."""
    if plan.clients.kind == "browser" and (unspoken := page_cannot_speak(plan.profile)) is not None:
        return f"browser clients speak only the reference contract: {unspoken}"
    if plan.expect.reason == "duration_cap" and plan.profile.payload != "protocol":
        return (
            "the scenario proves streams are cut at the cap (reason duration_cap), and this target's streams end"
            " without saying why"
        )
    return None


async def _timed(plan: Plan, history: History, work: Coroutine[Any, Any, None]) -> None:
    """The clients and their faults: the history's clock starts, under the plan's hard deadline."""
    history.epoch_ns = time.monotonic_ns()
    try:
        async with asyncio.timeout(plan.hard_deadline), loop_lag_sampled(history, plan.lag_sample_seconds):
            with collector_paused():
                await work
    except TimeoutError:
        raise EnvironmentProblem(
            f"scenario {plan.scenario} overran its hard deadline of {plan.hard_deadline:g} s"
        ) from None


async def _first_attempts_ended(browsers: list[BrowserClient]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_BROWSER_START_SECONDS):
            await _gather(browser.first_attempt_ended() for browser in browsers)


async def _gather(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*coroutines)


def _baseline_error(history: History, results: list[CheckResult]) -> str | None:
    """Without the target's whole fault-free answer nothing can be compared with it: the scenario is
    an error naming why (its checks are still reported; those that need the baseline fail saying so).
    Unless a check that needs no baseline failed: that proves the target wrong whatever the
    baseline, and a failure says more than an error (a server that ignores its cap never ends its
    baseline either)."""
    failure = history.baseline.failure if history.baseline is not None else None
    if failure is None or any(r.status == Status.FAIL and not CHECKS[r.name].needs_baseline for r in results):
        return None
    return f"the target did not give its fault-free answer (the baseline) whole: {failure}"
