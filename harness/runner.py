"""Runs one scenario: plans it against the target, then plays the plan (proxies, the nemesis's
fault timeline, the clients) into a history, and judges the history with the checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from harness.baseline import Baselines
from harness.browser import BrowserClient, Chromium, page_cannot_speak, warm_up
from harness.checks import none_applicable, run_checks
from harness.client import RobustClient, settings_for
from harness.errors import ConfigurationError, EnvironmentProblem, HarnessError
from harness.history import History
from harness.loop_lag import loop_lag_sampled
from harness.nemesis import Nemesis
from harness.plan import Plan, make_plan
from harness.results import ScenarioRun
from harness.scenario import Scenario
from harness.target import Target, Timing, probe_timing
from harness.toxiproxy import Proxy, ToxiproxyAPI, ToxiproxyUnavailable
from harness.transport import upstream_address, url_at
from reference_server.collector import collector_paused

# How long a browser scenario's fault timeline waits for its pages' streams to start.
_BROWSER_START_SECONDS = 5.0
SCREENSHOTS = "screenshots"  # in the report directory: one folder per scenario, one file per browser client

Progress = Callable[[str], None]
Client = RobustClient | BrowserClient


class Runner:
    def __init__(
        self,
        target: Target,
        api: ToxiproxyAPI,
        http: httpx.AsyncClient,
        chromium: Chromium | None = None,
        report_dir: Path | None = None,
    ) -> None:
        """`chromium` launches the browser for browser clients (without it they are a configuration
        error); with a `report_dir`, each browser page's final screenshot is kept under it."""
        self.target = target
        self.api = api
        self.http = http
        self.chromium = chromium
        self.report_dir = report_dir
        self.baselines = Baselines(target, http)
        self._timing: Timing | None = None
        self._runs = 0

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
        history = History()
        run = ScenarioRun(scenario.name, scenario.description, history)
        try:
            history.plan = plan = await self.plan(scenario)
            unjudgeable = _unjudgeable(plan)
            if unjudgeable is not None:
                run.results = none_applicable(plan, unjudgeable)
            else:
                await self._play(plan, history, on_progress)
                # Checking a big history takes a good part of a second: off the event loop, where
                # another scenario's clients may be timing heartbeats.
                run.results = await asyncio.to_thread(run_checks, plan, history)
        except ToxiproxyUnavailable as error:
            run.error, run.toxiproxy_unavailable = str(error), True
        except HarnessError as error:
            run.error = str(error)
        run.wall_seconds = time.monotonic() - started
        return run

    async def _play(self, plan: Plan, history: History, on_progress: Progress | None) -> None:
        """The clients and their faults under the plan's hard deadline, the loop's lag sampled."""
        baseline = asyncio.ensure_future(self.baselines.get(plan.request, plan.clients.deadline))
        async with self._proxies(plan) as proxies:
            if plan.sweep is None:
                work = self._shared(plan, history, proxies[0], on_progress)
            else:
                work = self._swept(plan, history, proxies, on_progress)
            history.epoch_ns = time.monotonic_ns()
            try:
                async with asyncio.timeout(plan.hard_deadline), loop_lag_sampled(history, plan.lag_sample_seconds):
                    with collector_paused():
                        await work
            except TimeoutError:
                raise EnvironmentProblem(
                    f"scenario {plan.scenario} overran its hard deadline of {plan.hard_deadline:g} s"
                ) from None
        history.baseline = await baseline

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

    async def _shared(self, plan: Plan, history: History, proxy: Proxy, on_progress: Progress | None) -> None:
        """All clients through one proxy, staggered, under one fault timeline. Browser clients
        load their page first, and their timeline starts when every page's first connection
        attempt has ended (connected or failed, at most 5 s): on a busy machine Chromium can
        take half a second to start a stream, and a fault due 0.5 s in would hit it too early."""
        clients = [self._client(plan, history, proxy, index) for index in range(plan.clients.count)]
        browsers = [client for client in clients if isinstance(client, BrowserClient)]

        async def one_client(index: int, client: Client) -> None:
            await asyncio.sleep(index * plan.clients.stagger)
            await client.run()
            if on_progress is not None:
                on_progress(plan.scenario)

        try:
            if browsers and self.chromium is not None:
                await warm_up(self.chromium)
            await _gather(browser.open() for browser in browsers)
            work = _gather(one_client(index, client) for index, client in enumerate(clients))
            nemesis = Nemesis(self.api, history, proxy.name, plan.timeline())
            await nemesis.alongside(work, partial(_first_attempts_ended, browsers) if browsers else None)
        finally:  # a page whose client never ran (cancelled, failed) is closed too
            await _gather(browser.close() for browser in browsers)

    async def _swept(self, plan: Plan, history: History, proxies: list[Proxy], on_progress: Progress | None) -> None:
        """One client per sweep value; each lane (proxy) runs its clients one after another."""

        async def lane(lane_index: int, proxy: Proxy) -> None:
            for index in range(lane_index, plan.clients.count, len(proxies)):
                client = self._client(plan, history, proxy, index)
                nemesis = Nemesis(self.api, history, proxy.name, plan.timeline(index))
                await nemesis.alongside(client.run())
                if on_progress is not None:
                    on_progress(plan.scenario)

        await _gather(lane(index, proxy) for index, proxy in enumerate(proxies))

    def _client(self, plan: Plan, history: History, proxy: Proxy, index: int) -> Client:
        settings = settings_for(
            plan.request,
            self.target.headers,
            max_attempts=plan.clients.max_attempts,
            deadline=plan.clients.deadline,
            backoff_max=plan.clients.backoff_max,
            connect_to=proxy.address,
        )
        if plan.clients.kind == "http":
            return RobustClient(f"c{index:04d}", settings, history, self.http, plan.profile)
        if self.chromium is None:
            raise ConfigurationError(f"scenario {plan.scenario} has browser clients, and this run has no browser")
        settings = dataclasses.replace(settings, url=self._page_stream_url(plan, proxy), connect_to=None)
        name = f"b{index:04d}"
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


async def _first_attempts_ended(browsers: list[BrowserClient]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_BROWSER_START_SECONDS):
            await _gather(browser.first_attempt_ended() for browser in browsers)


async def _gather(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*coroutines)
