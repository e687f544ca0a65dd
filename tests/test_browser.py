"""The browser side in headless Chromium: the page's parser, its stream through real faults, its controls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, Route

from harness import runner
from harness.browser import BrowserClient, Chromium, chromium_on_demand, warm_up, warmup
from harness.browser.chromium import find_chromium
from harness.checks.views import answer_of
from harness.client import ClientSettings, Outcome, RobustClient
from harness.embedded import EmbeddedServer
from harness.errors import EnvironmentProblem
from harness.history import History, Kind
from harness.profile import DEFAULT_PROFILE
from harness.runner import Runner
from harness.scenario import CATALOGUE_DIR, load_scenario
from harness.sse import Comment, Event, SSEParseError, SSEParser
from harness.target import Target, seconds_if_advertised
from harness.toxiproxy import ToxiproxyAPI, find_binary, toxiproxy
from harness.transport import new_http_client
from reference_server.page import PAGE_HEADERS, STATIC_DIR
from tests.helpers.broken_server import CHUNKS, FIRST_CONNECTION_CHUNKS, broken_server
from tests.helpers.raw_server import raw_server, unavailable_on_resume
from tests.helpers.screenshots import assert_not_blank
from tests.helpers.sse_implementations import random_case
from tests.helpers.sse_vectors import VECTORS

PARAMS = {"query": "does the page survive a cut", "max_tokens": "240"}
_BLANK_ORIGIN = "http://parser.test"


def _require(find: Callable[[], object]) -> None:
    try:
        find()
    except EnvironmentProblem as missing:
        pytest.skip(f"{missing} (CI installs it)")


@pytest_asyncio.fixture(scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    _require(find_chromium)
    async with chromium_on_demand() as launcher:
        yield launcher


@pytest_asyncio.fixture
async def context(chromium: Chromium) -> AsyncIterator[BrowserContext]:
    context = await (await chromium.browser()).new_context()
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()


def test_a_missing_chromium_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSE_CHAOS_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match=r"playwright install chromium`, or set SSE_CHAOS_CHROMIUM$"):
        find_chromium(lambda: str(tmp_path / "no-playwright-browser"))
    monkeypatch.setenv("SSE_CHAOS_CHROMIUM", str(tmp_path / "absent"))
    with pytest.raises(EnvironmentProblem, match="is not an executable file"):
        find_chromium()


# --- the page's parser against the Python parser -------------------------------------------

_RUN_PARSER = """async (cases) => {
  const { SSEParser } = await import("/sse-parser.js");
  return cases.map(({ bytes, cuts, options }) => {
    const parser = new SSEParser(options);
    const items = [];
    try {
      let last = 0;
      for (const cut of [...cuts, bytes.length]) {
        items.push(...parser.feed(new Uint8Array(bytes.slice(last, cut))));
        last = cut;
      }
      parser.close();
    } catch (error) {
      return { error: error.message };
    }
    return { items, lastEventId: parser.lastEventId, retry: parser.retry };
  });
}"""


def python_parse(data: bytes, cuts: list[int], options: dict[str, int]) -> dict[str, Any]:
    parser = SSEParser(max_line_bytes=options["maxLineBytes"], max_event_bytes=options["maxEventBytes"])
    items: list[Event | Comment] = []
    try:
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            items += parser.feed(data[start:end])
        parser.close()
    except SSEParseError as error:
        return {"error": str(error)}
    return {
        "items": [_as_page_item(item) for item in items],
        "lastEventId": parser.last_event_id,
        "retry": parser.retry,
    }


def _as_page_item(item: Event | Comment) -> dict[str, Any]:
    if isinstance(item, Comment):
        return {"type": "comment", "text": item.text, "offset": item.offset}
    return {
        "type": "event",
        "event": item.event,
        "data": item.data,
        "id": item.id,
        "hasId": item.has_id,
        "retry": item.retry,
        "offset": item.offset,
    }


def parser_cases() -> list[tuple[bytes, list[int], dict[str, int]]]:
    """Every rule vector whole, split at every byte and byte by byte; random streams with random
    cuts; and streams that break small size bounds."""
    roomy = {"maxLineBytes": 1 << 20, "maxEventBytes": 4 << 20}
    cases = []
    for data, _expected in VECTORS.values():
        cases.append((data, [], roomy))
        cases += [(data, [at], roomy) for at in range(1, len(data))]
        cases.append((data, list(range(1, len(data))), roomy))
    rng = random.Random(7)
    for _ in range(300):
        data, cuts, bounds = random_case(rng)
        page_bounds = {"maxLineBytes": bounds["max_line_bytes"], "maxEventBytes": bounds["max_event_bytes"]}
        cases.append((data, cuts, page_bounds))
    return cases


@pytest.mark.asyncio
async def test_the_page_parser_agrees_with_the_python_parser_byte_for_byte(context: BrowserContext) -> None:
    page = await context.new_page()
    await page.route(f"{_BLANK_ORIGIN}/**", _serve_static)
    await page.goto(f"{_BLANK_ORIGIN}/blank")
    cases = parser_cases()
    payload = [{"bytes": list(data), "cuts": cuts, "options": options} for data, cuts, options in cases]
    in_page = await page.evaluate(_RUN_PARSER, payload)
    mismatches = [
        (data, cuts, options)
        for (data, cuts, options), got in zip(cases, in_page, strict=True)
        if got != python_parse(data, cuts, options)
    ]
    assert mismatches == [], f"{len(mismatches)} of {len(cases)} differ; first: {mismatches[0]}"
    assert sum("error" in result for result in in_page) > 10  # the bounds were exercised


ADVERTISED_VALUES = [
    "1", "0.25", " 5 ", "\t15\t", "60.0", "0", "0.0", "-1", "+1", "1e2", "1E-1", "1_0", "0x10", "Infinity", "NaN",
    "", " ", "1.", ".5", "86400", "1e400", "1,5", "١", "5 s", "2.5.1", "00010", "e5", ".", "1e",
]  # fmt: skip


@pytest.mark.asyncio
async def test_the_page_reads_advertised_timings_by_the_harness_s_rule(context: BrowserContext) -> None:
    page = await context.new_page()
    await page.route(f"{_BLANK_ORIGIN}/**", _serve_static)
    await page.goto(f"{_BLANK_ORIGIN}/blank")
    in_page = await page.evaluate(
        """async (values) => {
          const { advertisedSeconds } = await import("/sse-stream.js");
          return [...values.map(advertisedSeconds), advertisedSeconds(null)];
        }""",
        ADVERTISED_VALUES,
    )
    assert in_page == [*map(seconds_if_advertised, ADVERTISED_VALUES), None]
    assert sum(value is not None for value in in_page) == 12  # both ways of the rule were exercised


async def _serve_static(route: Route) -> None:
    name = route.request.url.rsplit("/", 1)[-1]
    file = STATIC_DIR / name
    if name.endswith(".js") and file.is_file():
        await route.fulfill(body=file.read_bytes(), content_type="text/javascript")
    else:
        await route.fulfill(body="<!doctype html><title>parser</title>", content_type="text/html")


# --- a real browser's stream through real faults -------------------------------------------


async def fault_free_answer(http: httpx.AsyncClient, url: str) -> str:
    history = History()
    result = await RobustClient("baseline", ClientSettings(url, PARAMS, deadline=20), history, http).run()
    assert result.outcome == Outcome.COMPLETE
    return answer_of(history.of_kind(Kind.EVENT), DEFAULT_PROFILE)


async def wait_until(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    async with asyncio.timeout(deadline):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_cut_mid_answer_ends_with_the_whole_answer_shown_once(
    server: EmbeddedServer, chromium: Chromium, tmp_path: Path
) -> None:
    _require(find_binary)
    async with toxiproxy(tmp_path) as api, new_http_client() as http:
        answer = await fault_free_answer(http, server.stream_url)
        upstream = httpx.URL(server.stream_url)
        proxy = await api.create_proxy("browser-cut", f"{upstream.host}:{upstream.port}")
        history = History()
        screenshot = tmp_path / "page.png"
        settings = ClientSettings(str(upstream.copy_with(port=proxy.port)), PARAMS, deadline=20, backoff_max=0.2)
        client = BrowserClient("b0", settings, history, chromium, screenshot=screenshot)
        running = asyncio.create_task(client.run())
        try:
            await wait_until(lambda: content_chunks(history) >= 5)
            await api.set_enabled(proxy.name, False)  # every connection through the proxy is cut
            await asyncio.sleep(0.2)
            await api.set_enabled(proxy.name, True)
            result = await asyncio.wait_for(running, 30)
        finally:
            running.cancel()
    assert result.outcome == Outcome.COMPLETE, result.detail
    assert 5 <= content_chunks(history, connection=0) < content_chunks(history)  # the cut came mid-answer
    assert result.connections >= 2
    display = history.of_kind(Kind.DISPLAY)[0]
    shown = json.loads(display.detail)
    assert display.data == answer
    trace_id = json.loads(history.of_kind(Kind.RESPONSE)[0].detail)["x-trace-id"]
    assert shown["trace_id"] == trace_id
    states = shown["states"]
    assert "connected" in states[states.index("reconnecting") :], states
    resumed = json.loads(history.of_kind(Kind.ATTEMPT)[1].detail)
    assert resumed["X-Trace-ID"] == trace_id
    assert resumed["Last-Event-ID"].endswith(f":{content_chunks(history, connection=0) - 1}")
    assert_not_blank(screenshot.read_bytes())


def streaming_page(server: EmbeddedServer, chromium: Chromium, history: History) -> BrowserClient:
    """A browser client of the reference server's stream, straight (no proxy)."""
    return BrowserClient("b0", ClientSettings(server.stream_url, PARAMS, deadline=10), history, chromium)


@pytest.mark.asyncio
async def test_the_page_samples_its_own_event_loop_lag(server: EmbeddedServer, chromium: Chromium) -> None:
    history = History()
    client = streaming_page(server, chromium, history)
    await client.open()
    try:
        page = client._page  # blocked here as a long render of a burst of answer would block it
        assert page is not None
        await page.evaluate("() => { const end = performance.now() + 300; while (performance.now() < end); }")
        await wait_until(lambda: any(lag.lag_us >= 250_000 for lag in history.of_kind(Kind.LOOP_LAG)))
    finally:
        await client.close()
    assert {lag.client for lag in history.of_kind(Kind.LOOP_LAG)} == {"b0"}


@pytest.mark.asyncio
async def test_the_first_attempt_has_ended_once_the_page_connected(server: EmbeddedServer, chromium: Chromium) -> None:
    history = History()
    client = streaming_page(server, chromium, history)
    with pytest.raises(RuntimeError, match="open"):
        await client.first_attempt_ended()
    await client.open()
    running = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.first_attempt_ended(), 10)
        assert [r.status for r in history.of_kind(Kind.RESPONSE)] == [200]
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def _stat_fields(stat: Path) -> list[str]:
    """A /proc stat line's fields after the command name (which may hold spaces): state first."""
    return stat.read_text().rsplit(")", 1)[1].split()


def _descendants(root: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parents[int(stat.parent.name)] = int(_stat_fields(stat)[1])
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found - {root}


def _thread_nice_values(pid: int) -> set[int]:
    values = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):
            values.add(int(_stat_fields(stat)[16]))
    return values


@pytest.mark.asyncio
async def test_chromium_threads_do_not_outrank_the_server_and_the_harness(
    server: EmbeddedServer, chromium: Chromium
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("only root may raise a thread's priority, and setpriv is what stops Chromium doing so")
    history = History()
    result = await streaming_page(server, chromium, history).run()
    assert result.outcome == Outcome.COMPLETE, result.detail
    nice_values = [values for pid in _descendants(os.getpid()) if (values := _thread_nice_values(pid))]
    assert len(nice_values) >= 3  # Playwright's driver, the browser, its renderer and helpers
    assert min(min(values) for values in nice_values) >= 0


def content_chunks(history: History, connection: int | None = None) -> int:
    events = history.of_kind(Kind.EVENT)
    return sum(r.event == "content_chunk" and connection in (None, r.connection) for r in events)


# --- the page as the reference server serves it ----------------------------------------------


@pytest.mark.asyncio
async def test_the_reference_server_serves_the_page_and_its_modules_under_a_strict_policy(
    server: EmbeddedServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = await http.get("/")
        module = await http.get("/static/sse-stream.js")
    assert page.status_code == module.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "javascript" in module.headers["content-type"]
    assert page.content == (STATIC_DIR / "index.html").read_bytes()
    for response in (page, module):
        assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS


async def open_page(context: BrowserContext, url: str, problems: list[str]) -> Page:
    page = await context.new_page()
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(url)
    return page


@pytest.mark.asyncio
async def test_stop_ends_the_stream_and_start_begins_a_new_one(server: EmbeddedServer, context: BrowserContext) -> None:
    problems: list[str] = []
    page = await open_page(context, f"{server.base_url}/?query=stop+me&max_tokens=4000", problems)
    await page.click("#start")
    await page.wait_for_selector("#answer:not(:empty)")
    first_trace = await page.text_content("#trace-id")
    await page.click("#stop")
    await page.locator("#result", has_text="stopped: stopped by the user").wait_for()
    assert await page.get_attribute("#status", "data-state") == "disconnected"
    await page.click("#start")
    await page.wait_for_selector("#status[data-state=connected]")
    assert await page.text_content("#trace-id") not in ("–", first_trace)
    assert problems == []


@pytest.mark.asyncio
async def test_a_rejected_request_is_shown_as_an_error_not_retried(
    server: EmbeddedServer, context: BrowserContext
) -> None:
    problems: list[str] = []
    page = await open_page(context, f"{server.base_url}/?temperature=9", problems)  # out of range
    await page.fill("#query", "too hot")
    await page.click("#start")
    await page.wait_for_selector("#result:not(:empty)")
    assert await page.text_content("#result") == "http_error: the server answered HTTP 400"
    assert await page.text_content("#reconnections") == "0"
    assert all("400" in problem for problem in problems)  # only the browser's own log line for the 400


@pytest.mark.asyncio
async def test_a_browser_that_dies_is_an_environment_problem_not_a_verdict(server: EmbeddedServer) -> None:
    _require(find_chromium)
    async with chromium_on_demand() as chromium:  # its own browser: this test kills it
        client = streaming_page(server, chromium, History())
        await client.open()
        await (await chromium.browser()).close()
        with pytest.raises(EnvironmentProblem, match="b0: Chromium failed"):
            await client.run()


@pytest.mark.asyncio
async def test_the_page_drops_an_event_the_server_sends_twice_and_shows_the_answer_once(chromium: Chromium) -> None:
    history = History()
    async with broken_server() as url:  # resumes at SEQ instead of SEQ + 1
        settings = ClientSettings(url, {"query": "q"}, deadline=10, backoff_initial=0.01)
        result = await BrowserClient("b0", settings, history, chromium).run()
    assert result.outcome == Outcome.COMPLETE, result.detail
    duplicates = history.of_kind(Kind.DUPLICATE)
    assert [json.loads(d.data)["seq"] for d in duplicates] == [FIRST_CONNECTION_CHUNKS - 1]
    assert history.of_kind(Kind.DISPLAY)[0].data == "".join(f" w{seq}" for seq in range(CHUNKS))


@pytest.mark.asyncio
async def test_the_page_retries_a_503_to_a_resume_like_a_cut(chromium: Chromium) -> None:
    history = History()
    async with raw_server(unavailable_on_resume) as url:
        settings = ClientSettings(url, {"query": "q"}, deadline=10, backoff_initial=0.01)
        result = await BrowserClient("b0", settings, history, chromium).run()
    assert result.outcome == Outcome.COMPLETE, result.detail
    assert [r.status for r in history.of_kind(Kind.RESPONSE)] == [200, 503, 503, 200]
    assert history.of_kind(Kind.ERROR)[1].detail == "the server answered HTTP 503 while the stream was under way"


@pytest.mark.asyncio
async def test_a_fresh_browser_is_warmed_once_by_a_page_that_streams_a_canned_answer(tmp_path: Path) -> None:
    _require(find_chromium)
    async with chromium_on_demand() as fresh:
        assert not fresh.warm
        await warm_up(fresh)
        assert fresh.warm
        history = History()
        settings = ClientSettings(f"{warmup._ORIGIN}/stream", deadline=10)
        canned = (warmup._HEADERS, warmup._BODY)
        result = await BrowserClient("b0", settings, history, fresh, canned_response=canned).run()
        assert result.outcome == Outcome.COMPLETE
        (shown,) = history.of_kind(Kind.DISPLAY)
        assert shown.data == "warm café 東京 🚀"
        await fresh.aclose()
        assert not fresh.warm  # a relaunched browser is cold again


@pytest.mark.asyncio
async def test_a_page_whose_records_reach_the_cap_is_ended_by_the_harness_saying_so(chromium: Chromium) -> None:
    history = History(max_records=40)
    body = "".join(f'id: s:{n}\nevent: content_chunk\ndata: {{"seq": {n}}}\n\n' for n in range(200)).encode()
    settings = ClientSettings(f"{warmup._ORIGIN}/stream", deadline=5)
    client = BrowserClient("b0", settings, history, chromium, canned_response=(warmup._HEADERS, body))
    result = await client.run()
    (marker,) = history.of_kind(Kind.TRUNCATED)
    assert (result.outcome, result.detail) == (Outcome.RECORDS_CAPPED, marker.detail)
    assert [r.outcome for r in history.of_kind(Kind.OUTCOME)] == [Outcome.RECORDS_CAPPED.value]


class _HangingChromium:
    """A browser that never starts (a cold disk, a stuck launch)."""

    warm = False

    async def browser(self) -> None:
        await asyncio.Event().wait()


@pytest.mark.asyncio
async def test_a_browser_that_never_starts_is_its_own_error_before_the_scenario_s_clock(
    server: EmbeddedServer, api: ToxiproxyAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_BROWSER_READY_SECONDS", 0.5)
    scenario = load_scenario(CATALOGUE_DIR / "browser-stall.toml")
    async with new_http_client() as http:
        hanging = cast(Chromium, _HangingChromium())
        run = await Runner(Target(server.stream_url, DEFAULT_PROFILE), api, http, chromium=hanging).run(scenario)
    assert run.error == (
        "scenario browser-stall: Chromium did not start and load its 2 pages within 0.5 s"
        " (a cold or very busy machine?)"
    )
    assert run.history.records == []  # no clock started, no client ran
