"""A browser client: the search page's ReconnectingStream in headless Chromium, recorded into a History.

The page and its modules (reference_server/static) are served by the harness itself, through
Playwright routes at the proxy's origin: the stream request is then same-origin and travels
through Chromium's own network stack and the proxy to whatever target is tested, which need
not serve the page. The page stamps every record with `performance.now()`; the client maps
that clock onto the harness's monotonic clock, so the same checks judge browser and Python
clients alike. At the end it records what the page showed (Kind.DISPLAY).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from playwright.async_api import Browser, BrowserContext, Page, Route
from playwright.async_api import Error as PlaywrightError

from harness.browser.chromium import Chromium, first_line
from harness.client import ClientResult, ClientSettings, Outcome
from harness.errors import EnvironmentProblem
from harness.history import History, Kind
from harness.plan import LAG_SAMPLE_SECONDS
from harness.profile import DEFAULT_PROFILE, TargetProfile
from harness.target import DEFAULT_SILENCE_SECONDS
from harness.untrusted import printable
from reference_server.page import PAGE_FILE, PAGE_HEADERS, STATIC_DIR

PAGE_PREFIX = "/__sse-chaos/"
_STATIC_FILES = {path.name: path for path in STATIC_DIR.iterdir() if path.is_file()}
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_PAGE_LOAD_TIMEOUT_MS = 15_000
# The page enforces the client's deadline itself; this margin covers loading it.
_OUTCOME_MARGIN_SECONDS = 10.0
_CLOCK_SAMPLES = 5
_RECORDED_KINDS = {
    kind.value: kind
    for kind in (
        Kind.ATTEMPT,
        Kind.RESPONSE,
        Kind.BYTES,
        Kind.EVENT,
        Kind.COMMENT,
        Kind.DUPLICATE,
        Kind.STATE,
        Kind.ERROR,
        Kind.OUTCOME,
        Kind.LOOP_LAG,
    )
}
# A first attempt has ended once one of these arrives: the stream connected, or it failed.
_FIRST_ATTEMPT_ENDED = {Kind.RESPONSE, Kind.ERROR, Kind.OUTCOME}
_SAID_IN_WORDS = {Kind.ERROR, Kind.OUTCOME}  # their detail is words the page may have taken from the target
# Runs before the page's own scripts: the client's options; a log of every state the status
# indicator showed (consecutive mutations in one batch: each one's new value is the next one's
# old value); and the page's own event-loop lag, sampled as the harness samples its own: a page
# whose main thread is busy (rendering a burst of answer, say) stamps what it reads late.
_INIT_SCRIPT = """
window.sseChaosOptions = %s;
(function sampleLag(due, everyMs) {
  const now = performance.now();
  const lagUs = Math.round(Math.max(0, now - due) * 1000);
  if (typeof window.sseChaosRecord === "function") window.sseChaosRecord({ kind: "loop_lag", t: now, lagUs });
  setTimeout(() => sampleLag(now + everyMs, everyMs), everyMs);
})(performance.now(), %d);
window.sseChaosShownStates = [];
new MutationObserver((mutations) => {
  const changes = mutations.filter((m) => m.target.id === "status");
  changes.forEach((m, i) => {
    const shown = i + 1 < changes.length ? changes[i + 1].oldValue : m.target.getAttribute("data-state");
    if (window.sseChaosShownStates.length < 1000) window.sseChaosShownStates.push(shown);
  });
}).observe(document, { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-state"] });
"""
_READ_DISPLAY = """() => ({
  answer: document.getElementById("answer")?.textContent ?? "",
  trace_id: document.getElementById("trace-id")?.textContent ?? "",
  result: document.getElementById("result")?.textContent ?? "",
  errors: [...document.querySelectorAll("#errors li")].map((item) => item.textContent),
  states: window.sseChaosShownStates ?? [],
})"""


def page_cannot_speak(profile: TargetProfile) -> str | None:
    """Why the search page's stream cannot read a target of this profile, or None. It speaks the
    reference contract: a GET, the contract's JSON resumed with Last-Event-ID, ended by a named
    terminal event."""
    request = profile.request
    limits = (
        (request.method != "GET" or request.body is not None, "this target is asked with a POST"),
        (
            profile.payload != "protocol" or profile.answer != DEFAULT_PROFILE.answer,
            "this target's data is not its JSON",
        ),
        (not profile.resume, "this target does not resume"),
        (profile.endless, "this target is an endless feed"),
        (profile.terminal_data is not None or profile.ends_on_close, "this target's stream ends without a named event"),
        (profile.error_pointer is not None, "this target's errors are not its error event"),
    )
    return next((why for unspoken, why in limits if unspoken), None)


class BrowserClient:
    def __init__(
        self,
        name: str,
        settings: ClientSettings,
        history: History,
        chromium: Chromium,
        profile: TargetProfile = DEFAULT_PROFILE,
        screenshot: Path | None = None,
        lag_sample_seconds: float = LAG_SAMPLE_SECONDS,
        canned_response: tuple[dict[str, str], bytes] | None = None,
    ) -> None:
        """The page samples its own event-loop lag every `lag_sample_seconds`. With a
        `canned_response` (headers, body) the browser answers the stream itself: no server needed."""
        self.name = name
        self.settings = settings
        self.history = history
        self.chromium = chromium
        self.profile = profile
        self.screenshot = screenshot
        self.lag_sample_seconds = lag_sample_seconds
        self.canned_response = canned_response
        stream = httpx.URL(settings.url)
        self.origin = f"{stream.scheme}://{stream.netloc.decode('ascii')}"
        self.stream_path = stream.path
        self.stream_params = dict(stream.params) | settings.params
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._recorder: _Recorder | None = None

    async def open(self) -> None:
        """Start (or reuse) the browser and load the page, ready to stream; `run` opens it when
        not yet open. Open clients before a fault timeline starts: loading a page takes a while."""
        if self._page is not None:
            return
        browser = await self.chromium.browser()
        with self._browser_failures():
            await self._load_page(browser)

    async def _load_page(self, browser: Browser) -> None:
        self._context = await browser.new_context(service_workers="block", viewport={"width": 1000, "height": 720})
        page = await self._context.new_page()
        await page.expose_function("sseChaosRecord", self._receive)
        init_script = _INIT_SCRIPT % (json.dumps(self._page_options()), round(self.lag_sample_seconds * 1000))
        await page.add_init_script(script=init_script)
        await page.route(re.compile("^" + re.escape(self.origin + PAGE_PREFIX)), self._serve_page_file)
        if self.canned_response is not None:
            stream = re.compile("^" + re.escape(self.origin + self.stream_path) + r"(\?|$)")
            await page.route(stream, self._serve_canned)
        page.on("pageerror", lambda error: self._note(f"page error: {error}"))
        await page.goto(self._page_url(), wait_until="load", timeout=_PAGE_LOAD_TIMEOUT_MS)
        self._recorder = _Recorder(self.name, self.history, await _page_clock(page))
        page.on("crash", self._crashed)
        self._page = page

    async def first_attempt_ended(self) -> None:
        """After `open()`: returns once the page's first connection attempt has connected or failed."""
        if self._recorder is None:
            raise RuntimeError(f"{self.name}: open() the page first")
        await asyncio.shield(self._recorder.first_attempt_ended)

    async def run(self) -> ClientResult:
        """Press Start and stream until the page reports an outcome; closes the page at the end.
        A browser that fails is an environment problem, not the target's."""
        try:
            await self.open()
            page, recorder = self._page, self._recorder
            assert page is not None
            assert recorder is not None
            with self._browser_failures():
                return await self._stream(page, recorder)
        finally:
            await self.close()

    @contextlib.contextmanager
    def _browser_failures(self) -> Iterator[None]:
        try:
            yield
        except PlaywrightError as error:
            raise EnvironmentProblem(f"{self.name}: Chromium failed: {first_line(error)}") from None

    async def close(self) -> None:
        context, self._context, self._page = self._context, None, None
        if context is not None:
            with contextlib.suppress(PlaywrightError):
                await context.close()

    async def _stream(self, page: Page, recorder: _Recorder) -> ClientResult:
        await page.click("#start")
        try:
            async with asyncio.timeout(self.settings.deadline + _OUTCOME_MARGIN_SECONDS):
                await recorder.ended
        except TimeoutError:
            recorder.give_up(f"the page reported no outcome within {self.settings.deadline:g} s")
        shown = await page.evaluate(_READ_DISPLAY)
        self.history.add(self.name, Kind.DISPLAY, data=str(shown.pop("answer")), detail=json.dumps(shown))
        if self.screenshot is not None:
            await page.screenshot(path=self.screenshot, full_page=True)
        return recorder.result()

    def _receive(self, raw: Any) -> None:
        if self._recorder is not None:
            self._recorder.receive(raw)

    def _crashed(self, _page: Page) -> None:
        if self._recorder is not None:
            self._recorder.crashed()

    def _note(self, problem: str) -> None:
        self.history.add(self.name, Kind.ERROR, detail=problem[:200])

    def _page_url(self) -> str:
        query = self.stream_params | {"stream": self.stream_path}
        return f"{self.origin}{PAGE_PREFIX}?{urlencode(query)}"

    def _page_options(self) -> dict[str, Any]:
        settings, profile = self.settings, self.profile
        return {
            "headers": settings.headers,
            "silenceThresholdSeconds": settings.silence_threshold,
            "defaultSilenceSeconds": profile.silence_threshold or DEFAULT_SILENCE_SECONDS,
            "connectTimeoutSeconds": settings.connect_timeout,
            "maxAttempts": settings.max_attempts,
            "backoffInitialSeconds": settings.backoff_initial,
            "backoffMaxSeconds": settings.backoff_max,
            "deadlineSeconds": settings.deadline,
            "maxLineBytes": settings.max_line_bytes,
            "maxEventBytes": settings.max_event_bytes,
            "heartbeat": profile.heartbeat,
            "heartbeatEvent": profile.heartbeat_event,
            "terminalEvents": list(profile.terminal_events),
            "errorEvent": profile.error_event,
            "traceHeader": profile.trace_header,
            "silenceHeader": profile.silence_header,
        }

    async def _serve_canned(self, route: Route) -> None:
        assert self.canned_response is not None
        headers, body = self.canned_response
        await route.fulfill(status=200, headers=headers, body=body)

    async def _serve_page_file(self, route: Route) -> None:
        path = httpx.URL(route.request.url).path.removeprefix(PAGE_PREFIX)
        name = PAGE_FILE if path == "" else path.removeprefix("static/")
        file = _STATIC_FILES.get(name)
        if file is None:
            await route.fulfill(status=404, body="not found")
            return
        content_type = _CONTENT_TYPES.get(file.suffix, "application/octet-stream")
        await route.fulfill(status=200, body=file.read_bytes(), content_type=content_type, headers=PAGE_HEADERS)


class _Recorder:
    """Turns the page's records into history records on the harness's clock."""

    def __init__(self, name: str, history: History, to_ns: Callable[[float], int]) -> None:
        self.name = name
        self.history = history
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_attempt_ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_ns = to_ns
        self._connections = 0
        self._events = 0
        self._outcome = (Outcome.DEADLINE, "no outcome")

    def receive(self, raw: Any) -> None:
        if isinstance(raw, dict) and raw.get("kind") in _RECORDED_KINDS and not self.ended.done():
            self._add(raw)

    def _add(self, raw: dict[str, Any]) -> None:
        kind = _RECORDED_KINDS[raw["kind"]]
        connection = _int(raw.get("connection"), -1)
        values = {
            "connection": connection,
            "offset": _int(raw.get("offset"), -1),
            "nbytes": _int(raw.get("nbytes"), 0),
            "status": _int(raw.get("status"), 0),
            "event": str(raw.get("event", "")),
            "event_id": str(raw.get("eventId", "")),
            "has_id": raw.get("hasId") is True,
            "data": str(raw.get("data", "")),
            "detail": _detail(kind, str(raw.get("detail", ""))),
            "outcome": str(raw.get("outcome", "")),
            "lag_us": _int(raw.get("lagUs"), 0),
        }
        self.history.add_at(self._to_ns(float(raw.get("t", 0.0))), self.name, kind, **values)
        self._connections = max(self._connections, connection + 1)
        self._events += kind is Kind.EVENT
        if kind in _FIRST_ATTEMPT_ENDED and not self.first_attempt_ended.done():
            self.first_attempt_ended.set_result(None)
        if kind is Kind.OUTCOME:
            self._outcome = (_outcome(values["outcome"]), values["detail"])
            self.ended.set_result(None)
        elif (marker := self.history.truncated(self.name)) is not None:
            self._end(Outcome.RECORDS_CAPPED, marker.detail)

    def crashed(self) -> None:
        if not self.ended.done():
            self.ended.set_exception(EnvironmentProblem(f"{self.name}: the Chromium page crashed"))

    def give_up(self, detail: str) -> None:
        self._end(Outcome.DEADLINE, detail)

    def _end(self, outcome: Outcome, detail: str) -> None:
        """The harness, not the page, ends the client: the page is closed right after."""
        self._outcome = (outcome, detail)
        self.history.add(self.name, Kind.OUTCOME, outcome=outcome.value, detail=detail)
        if not self.ended.done():
            self.ended.set_result(None)

    def result(self) -> ClientResult:
        outcome, detail = self._outcome
        return ClientResult(self.name, outcome, detail, self._connections, self._events)


def _detail(kind: Kind, detail: str) -> str:
    """A record's detail: words made printable and bounded; other details (headers as JSON) kept whole."""
    return printable(detail) if kind in _SAID_IN_WORDS else detail


async def _page_clock(page: Page) -> Callable[[float], int]:
    """Maps the page's performance.now() (ms) onto time.monotonic_ns(), from the sample with
    the shortest round trip (its midpoint is off by at most half of it, well under 1 ms)."""
    best: tuple[int, int] | None = None
    for _ in range(_CLOCK_SAMPLES):
        before = time.monotonic_ns()
        page_ms = float(await page.evaluate("performance.now()"))
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) // 2 - round(page_ms * 1e6))
    assert best is not None
    offset = best[1]
    return lambda page_ms: offset + round(page_ms * 1e6)


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        return Outcome.ERROR
