"""Runs scenarios: target, baseline, proxy, nemesis and clients → one history per scenario → checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from harness.browser import BrowserClient, Chromium
from harness.checks import CheckResult, Status, run_checks
from harness.checks.views import content_payloads, joined_content, payload
from harness.client import ClientSettings, RobustClient
from harness.embedded import embedded_server
from harness.errors import ConfigurationError, EnvironmentProblem, HarnessError
from harness.history import HARNESS, History, Kind
from harness.nemesis import Nemesis, TimedFault
from harness.profile import TargetProfile
from harness.scenario import Scenario, Timing, resolve
from harness.target import Target
from harness.toxiproxy import Proxy, ToxiproxyAPI, ToxiproxyUnavailable, toxiproxy
from harness.transport import upstream_address, url_at
from reference_server.collector import collect_if_overdue, collector_paused
from reference_server.config import FAST_TIMING

TIMING_PROFILES: dict[str, dict[str, float | int]] = {"fast": FAST_TIMING, "seed": {}}
_LAG_SAMPLE_SECONDS = 0.05
_PROBE_SECONDS = 15.0
_PROBE_HEADERS = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}
_TEARDOWN_MARGIN_SECONDS = 10.0
# How long a browser scenario's fault timeline waits for its pages' streams to start.
_BROWSER_START_SECONDS = 5.0
SCREENSHOTS = "screenshots"  # in the report directory: one folder per scenario, one file per browser client


@dataclass
class ScenarioRun:
    name: str
    description: str
    history: History
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    wall_seconds: float = 0.0
    toxiproxy_unavailable: bool = False

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.status != Status.FAIL for r in self.results)


@dataclass
class Baseline:
    content: str | None
    reason: str | None


@asynccontextmanager
async def target_and_proxy(
    target_url: str | None, profile: TargetProfile, headers: Mapping[str, str], timing_profile: str, work_dir: Path
) -> AsyncIterator[tuple[Target, ToxiproxyAPI]]:
    """The target (the embedded reference server unless a URL is given) and a Toxiproxy API."""
    async with AsyncExitStack() as stack:
        if target_url is None:
            server = await stack.enter_async_context(
                embedded_server(TIMING_PROFILES[timing_profile], work_dir / "reference-server.log")
            )
            target_url = server.stream_url
        target = Target(target_url, profile, headers)
        api = await stack.enter_async_context(toxiproxy(work_dir))
        yield target, api


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
        self._baselines: dict[tuple[tuple[str, str], ...], asyncio.Future[Baseline]] = {}
        self._timing: Timing | None = None
        self._runs = 0

    async def run(self, scenario: Scenario, on_progress: Callable[[str], None] | None = None) -> ScenarioRun:
        started = time.monotonic()
        history = History(meta={"scenario": scenario.name, "description": scenario.description})
        run = ScenarioRun(scenario.name, scenario.description, history)
        try:
            await self._run(scenario, history, on_progress)
            # Checking a big history takes a good part of a second: off the event loop, where
            # another scenario's clients may be timing heartbeats.
            run.results = await asyncio.to_thread(run_checks, history)
        except ToxiproxyUnavailable as error:
            run.error, run.toxiproxy_unavailable = str(error), True
        except HarnessError as error:
            run.error = str(error)
        run.wall_seconds = time.monotonic() - started
        return run

    def _params(self, scenario: Scenario) -> dict[str, str]:
        if self.target.profile.payload != "protocol":
            return dict(scenario.clients.extra_params)
        base = {"query": scenario.clients.query, "max_tokens": str(scenario.clients.max_tokens)}
        return base | scenario.clients.extra_params

    async def timing(self) -> Timing:
        """What the target advertises: read once from a probe request's headers (or the profile)."""
        if self._timing is None:
            self._timing = await self._probe_timing()
        return self._timing

    async def _probe_timing(self) -> Timing:
        profile = self.target.profile
        params = {"query": "probe", "max_tokens": "1"} if profile.payload == "protocol" else {}
        try:
            async with asyncio.timeout(_PROBE_SECONDS):
                headers = _PROBE_HEADERS | dict(self.target.headers)
                request = self.http.build_request("GET", self.target.url, params=params, headers=headers)
                response = await self.http.send(request, stream=True)
                await response.aclose()
        except (TimeoutError, httpx.HTTPError) as error:
            raise EnvironmentProblem(f"the target {self.target.url} did not answer: {type(error).__name__}") from None
        if response.status_code != 200:
            raise EnvironmentProblem(f"the target {self.target.url} answered HTTP {response.status_code}")
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Timing(
            heartbeat=_advertised(headers, profile.interval_header, profile.heartbeat_interval),
            silence=_advertised(headers, profile.silence_header, profile.silence_threshold),
            cap=_advertised(headers, profile.cap_header, profile.stream_max_seconds),
        )

    async def baseline(self, params: dict[str, str]) -> Baseline:
        """A fault-free answer straight from the target, cached per request."""
        key = tuple(sorted(params.items()))
        if key not in self._baselines:
            self._baselines[key] = asyncio.ensure_future(self._fetch_baseline(params))
        return await asyncio.shield(self._baselines[key])

    async def _fetch_baseline(self, params: dict[str, str]) -> Baseline:
        profile = self.target.profile
        if profile.payload != "protocol":
            return Baseline(None, None)
        history = History()
        settings = ClientSettings(self.target.url, params, dict(self.target.headers), max_attempts=3, deadline=600.0)
        await RobustClient("baseline", settings, history, self.http, profile).run()
        events = history.of_kind(Kind.EVENT)
        content = joined_content(content_payloads(events, profile.content_event))
        terminal = next((payload(e) for e in events if e.event in profile.terminal_events), {})
        return Baseline(content, terminal.get("reason"))

    async def _run(self, scenario: Scenario, history: History, on_progress: Callable[[str], None] | None) -> None:
        params = self._params(scenario)
        timing = await self.timing()
        baseline_task = asyncio.ensure_future(self.baseline(params))
        expect = scenario.expect
        deadline = resolve(scenario.clients.deadline, timing)
        history.meta |= {
            "target": self.target.url,
            "profile": self.target.profile.model_dump(mode="json"),
            "timing": {"heartbeat": timing.heartbeat, "silence": timing.silence, "cap": timing.cap},
            "expect": expect.model_dump(mode="json")
            | {
                "heartbeat_tolerance": resolve(expect.heartbeat_tolerance, timing),
                "cap_tolerance": resolve(expect.cap_tolerance, timing),
            },
            "client_deadline": deadline,
        }
        async with self._proxies(scenario) as proxies:
            if scenario.sweep is None:
                faults = _timeline(scenario, timing, proxies[0])
                history.meta["faults"] = [fault.describe() for fault in faults]
                work = self._shared(scenario, history, proxies[0], params, deadline, timing, on_progress)
                hard_deadline = deadline + resolve(scenario.clients.stagger, timing) * scenario.client_count
            else:
                history.meta["faults"] = [fault.describe() for fault in _timeline(scenario, timing, proxies[0], 0)]
                history.meta["sweep"] = scenario.sweep.model_dump()
                work = self._swept(scenario, history, proxies, params, deadline, timing, on_progress)
                hard_deadline = deadline * math.ceil(scenario.client_count / len(proxies))
            await self._play(scenario, history, work, hard_deadline + _TEARDOWN_MARGIN_SECONDS)
        baseline = await baseline_task
        history.meta["baseline"] = {
            "content": baseline.content,
            "reason": baseline.reason,
            "content_sha256": hashlib.sha256((baseline.content or "").encode()).hexdigest(),
        }

    @asynccontextmanager
    async def _proxies(self, scenario: Scenario) -> AsyncIterator[list[Proxy]]:
        """One proxy, or one per sweep lane; deleted on every path out."""
        upstream = upstream_address(httpx.URL(self.target.url))
        self._runs += 1
        count = min(scenario.sweep.lanes, scenario.client_count) if scenario.sweep else 1
        proxies: list[Proxy] = []
        try:
            for index in range(count):
                proxies.append(await self.api.create_proxy(f"sse-{self._runs}-{scenario.name}-{index}", upstream))
            yield proxies
        finally:
            for proxy in proxies:
                with contextlib.suppress(HarnessError):
                    await self.api.delete_proxy(proxy.name)

    def _client(
        self, scenario: Scenario, history: History, proxy: Proxy, params: dict[str, str], deadline: float, index: int
    ) -> RobustClient | BrowserClient:
        settings = ClientSettings(
            self.target.url,
            params,
            dict(self.target.headers),
            max_attempts=scenario.clients.max_attempts,
            deadline=deadline,
            backoff_max=1.0,
            connect_to=proxy.address,
        )
        if scenario.clients.kind == "http":
            return RobustClient(f"c{index:04d}", settings, history, self.http, self.target.profile)
        if self.chromium is None:
            raise ConfigurationError(f"scenario {scenario.name} has browser clients, and this run has no browser")
        settings = dataclasses.replace(settings, url=self._page_stream_url(scenario, proxy), connect_to=None)
        name = f"b{index:04d}"
        screenshot = None
        if self.report_dir is not None:
            relative = f"{SCREENSHOTS}/{scenario.name}/{name}.png"
            screenshot = self.report_dir / relative
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            history.meta.setdefault("screenshots", []).append(relative)
        return BrowserClient(name, settings, history, self.chromium, self.target.profile, screenshot)

    def _page_stream_url(self, scenario: Scenario, proxy: Proxy) -> str:
        """A page cannot name one server and connect to another: it streams from the target's
        URL at the proxy's address, so an https target's certificate would not match."""
        target = httpx.URL(self.target.url)
        if target.scheme == "https":
            raise ConfigurationError(
                f"scenario {scenario.name} has browser clients, which reach an https target at the proxy's"
                " address, a name its certificate does not hold; run browser scenarios against an http target"
            )
        return str(url_at(target, proxy.address))

    async def _shared(
        self,
        scenario: Scenario,
        history: History,
        proxy: Proxy,
        params: dict[str, str],
        deadline: float,
        timing: Timing,
        on_progress: Callable[[str], None] | None,
    ) -> None:
        """All clients through one proxy, staggered, under one fault timeline. Browser clients
        load their page first, and their timeline starts when every page's first connection
        attempt has ended (connected or failed, at most 5 s): on a busy machine Chromium can
        take half a second to start a stream, and a fault due 0.5 s in would hit it too early."""
        stagger = resolve(scenario.clients.stagger, timing)
        clients = [self._client(scenario, history, proxy, params, deadline, i) for i in range(scenario.client_count)]
        browsers = [client for client in clients if isinstance(client, BrowserClient)]

        async def one_client(index: int, client: RobustClient | BrowserClient) -> None:
            await asyncio.sleep(index * stagger)
            await client.run()
            if on_progress is not None:
                on_progress(scenario.name)

        try:
            await _gather(browser.open() for browser in browsers)
            work = _gather(one_client(index, client) for index, client in enumerate(clients))
            nemesis = Nemesis(self.api, history, _timeline(scenario, timing, proxy))
            await _under_nemesis(nemesis, work, partial(_first_attempts_ended, browsers) if browsers else None)
        finally:  # a page whose client never ran (cancelled, failed) is closed too
            await _gather(browser.close() for browser in browsers)

    async def _swept(
        self,
        scenario: Scenario,
        history: History,
        proxies: list[Proxy],
        params: dict[str, str],
        deadline: float,
        timing: Timing,
        on_progress: Callable[[str], None] | None,
    ) -> None:
        """One client per sweep value; each lane (proxy) runs its clients one after another."""

        async def lane(lane_index: int, proxy: Proxy) -> None:
            for index in range(lane_index, scenario.client_count, len(proxies)):
                client = self._client(scenario, history, proxy, params, deadline, index)
                nemesis = Nemesis(self.api, history, _timeline(scenario, timing, proxy, index))
                await _under_nemesis(nemesis, client.run())
                if on_progress is not None:
                    on_progress(scenario.name)

        await _gather(lane(index, proxy) for index, proxy in enumerate(proxies))

    async def _play(
        self, scenario: Scenario, history: History, work: Coroutine[Any, Any, None], hard_deadline: float
    ) -> None:
        """Run the clients and their faults under a hard deadline, sampling the harness's loop lag."""
        history.epoch_ns = time.monotonic_ns()
        lag_task = asyncio.create_task(_sample_loop_lag(history))
        try:
            async with asyncio.timeout(hard_deadline):
                with collector_paused():
                    await work
        except TimeoutError:
            raise EnvironmentProblem(
                f"scenario {scenario.name} overran its hard deadline of {hard_deadline:g} s"
            ) from None
        finally:
            lag_task.cancel()
            await asyncio.gather(lag_task, return_exceptions=True)


def _timeline(scenario: Scenario, timing: Timing, proxy: Proxy, client: int | None = None) -> list[TimedFault]:
    """The scenario's faults on one proxy; for a sweep, with client `client`'s value."""
    faults = []
    for index, fault in enumerate(scenario.faults):
        at = resolve(fault.at, timing)
        attributes = dict(fault.attributes)
        if fault.sweep is not None and client is not None:
            attributes[fault.sweep.attribute] = fault.sweep.values()[client]
        faults.append(
            TimedFault(
                fault_id=f"f{index}" if client is None else f"f{index}-c{client:04d}",
                proxy=proxy.name,
                action=fault.action,
                at=at,
                until=at + resolve(fault.duration, timing) if fault.duration is not None else None,
                attributes=attributes,
                stream=fault.stream,
                toxicity=fault.toxicity,
            )
        )
    return faults


async def _under_nemesis(
    nemesis: Nemesis,
    clients: Coroutine[Any, Any, None],
    ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Play the fault timeline while the clients run, its clock started once `ready()` returns
    (faults at 0 s go in before the clients start); a failed fault ends the run; always heal."""
    await nemesis.apply_initial()
    work = asyncio.create_task(clients)
    timeline = asyncio.create_task(_timeline_once(nemesis, ready))
    try:
        pending: set[asyncio.Task[None]] = {work, timeline}
        while work in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if timeline in done and (error := timeline.exception()) is not None:
                raise error
        work.result()
    finally:
        for task in (work, timeline):
            task.cancel()
        await asyncio.gather(work, timeline, return_exceptions=True)
        await nemesis.heal()


async def _timeline_once(nemesis: Nemesis, ready: Callable[[], Awaitable[None]] | None) -> None:
    if ready is not None:
        await ready()
    await nemesis.run(asyncio.get_running_loop().time())


async def _first_attempts_ended(browsers: list[BrowserClient]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_BROWSER_START_SECONDS):
            await _gather(browser.first_attempt_ended() for browser in browsers)


async def _gather(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*coroutines)


async def _sample_loop_lag(history: History) -> None:
    """Samples the harness's event-loop lag, and runs an overdue garbage collection (the
    collector is paused while clients stream) where its pause shows up as lag."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(_LAG_SAMPLE_SECONDS)
        collect_if_overdue()
        lag_us = int(max(0.0, loop.time() - before - _LAG_SAMPLE_SECONDS) * 1e6)
        history.add(HARNESS, Kind.LOOP_LAG, nbytes=lag_us)


def _advertised(headers: dict[str, str], header: str | None, declared: float | None) -> float | None:
    if header and header.lower() in headers:
        try:
            value = float(headers[header.lower()])
        except ValueError:
            raise ConfigurationError(
                f"the target's {header} is not a number: {headers[header.lower()][:32]!r}"
            ) from None
        if value > 0:
            return value
    return declared


def summary_of(runs: list[ScenarioRun]) -> dict[str, Any]:
    return {
        "passed": all(run.passed for run in runs),
        "scenarios": [
            {
                "name": run.name,
                "description": run.description,
                "passed": run.passed,
                "error": run.error,
                "wall_seconds": round(run.wall_seconds, 3),
                "checks": [result.to_json() for result in run.results],
            }
            for run in runs
        ],
    }


__all__ = ["TIMING_PROFILES", "Runner", "ScenarioRun", "Target", "summary_of", "target_and_proxy"]
