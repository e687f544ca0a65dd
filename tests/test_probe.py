"""`sse-chaos probe`: what it finds on each dialect's test server and on the reference server,
the draft it writes validating and then carrying a baseline run through the real Toxiproxy; bad
targets as one line, exit 2; values given with -H never shown or written."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from harness.checks import Status
from harness.embedded import EmbeddedServer
from harness.probe import Probe, probe
from harness.profile import load_profile
from harness.results import ScenarioRun
from harness.runner import Runner
from harness.schedule import run_scenarios
from harness.target import Target
from harness.toxiproxy import ToxiproxyAPI
from harness.transport import new_http_client
from tests.helpers.dialect_servers import PING_SECONDS, dialect_server
from tests.test_dialects import DIALECTS, catalogue

_WINDOW = 6.0  # longer than a test server's answer of the probe's length
_CLI_SECONDS = 30.0
_SECRET = "Bearer sk-probe-0123456789"
# dialect: the fields the probe must find (beyond what its shipped profile already says)
FOUND = {
    "openai": {"terminal_data": "[DONE]", "payload": "json", "answer": "/choices/0/delta/content", "resume": False},
    "anthropic": {"heartbeat": "event", "heartbeat_event": "ping", "terminal_events": ["message_stop"]},
    "comment-ping": {"heartbeat": "comment", "terminal_events": ["done"], "payload": "opaque", "resume": False},
    "live-feed": {"endless": True, "heartbeat": "comment", "resume": True, "terminal_events": []},
}
EXTENDS = {"openai": "openai-chat", "anthropic": "anthropic-messages"}
FITS = {"comment-ping": "comment-heartbeats", "live-feed": "live-feed"}


async def probe_and_write(url: str, profile: str | None, tmp_path: Path) -> tuple[Probe, Path]:
    async with new_http_client() as http:
        result = await probe(http, url, profile, {"Authorization": _SECRET}, _WINDOW)
    written = tmp_path / "probed.toml"
    written.write_text(result.draft)
    return result, written


async def baseline_passes(api: ToxiproxyAPI, url: str, profile_path: Path, fields: list[str]) -> ScenarioRun:
    """The written profile validates, and a baseline run with it passes through Toxiproxy."""
    validated = await cli("validate", str(profile_path))
    assert validated == (0, f"{profile_path}: ok\n", ""), validated
    async with new_http_client() as http:
        runner = Runner(Target(url, load_profile(str(profile_path), fields)), api, http)
        [run] = await run_scenarios(runner, catalogue("baseline"), 1, lambda _s: None, lambda _r: None)
    assert run.error is None, run.error
    failed = {result.name: result.detail for result in run.results if result.status == Status.FAIL}
    assert failed == {}
    assert any(result.status == Status.PASS for result in run.results)
    assert "first_content_p50_ms" in run.figures.values, run.figures.absent
    return run


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_probe_finds_what_each_dialect_speaks(api: ToxiproxyAPI, dialect: str, tmp_path: Path) -> None:
    _name, fields, path = DIALECTS[dialect]
    async with dialect_server(dialect) as base:
        result, written = await probe_and_write(base + path, EXTENDS.get(dialect), tmp_path)
        for name, value in FOUND[dialect].items():
            assert result.findings.fields[name] == value, name
        assert result.extends == EXTENDS.get(dialect, FITS.get(dialect))
        loaded = load_profile(str(written))
        for name, value in FOUND[dialect].items():
            assert getattr(loaded, name) == (tuple(value) if isinstance(value, list) else value), name
        if dialect in ("comment-ping", "live-feed"):
            assert loaded.heartbeat_interval == pytest.approx(PING_SECONDS, abs=0.05)
        # the tests' timings, as test_dialects sets them over the shipped profile, but the period probed
        probed = [field for field in fields if not field.startswith("heartbeat_interval=")]
        await baseline_passes(api, base + path, written, probed)
    assert _SECRET not in result.draft


@pytest.mark.asyncio
async def test_probe_finds_the_reference_contract(api: ToxiproxyAPI, server: EmbeddedServer, tmp_path: Path) -> None:
    result, written = await probe_and_write(server.stream_url, None, tmp_path)
    found = result.findings.fields
    assert (found["payload"], found["heartbeat_event"], found["terminal_events"]) == (
        "protocol",
        "heartbeat",
        ["complete"],
    )
    assert found["resume"] is True
    assert found["interval_header"] == "X-Heartbeat-Interval"
    assert result.extends == "robust-stream"
    assert load_profile(str(written)).model_dump(exclude={"name"}) == load_profile(None).model_dump(exclude={"name"})
    run = await baseline_passes(api, server.stream_url, written, [])
    assert run.history.baseline is not None
    assert run.history.baseline.whole_s is not None  # the baseline is timed: the extra time faults cost
    assert run.figures.values["extra_ms"] < run.figures.values["whole_answer_p50_ms"]


async def cli(*arguments: str) -> tuple[int, str, str]:
    """`python -m harness.cli ARGUMENTS` in a child process, killed at its deadline."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harness.cli", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=os.environ | {"COLUMNS": "400"},
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(child.communicate(), _CLI_SECONDS)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


Answer = Callable[[bytes], bytes]


@asynccontextmanager
async def canned_server(answer: Answer, then_wait: bool = False) -> AsyncIterator[str]:
    """A server that answers every request head with `answer(head)`, then closes (or waits to be stopped)."""
    stop = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _CLI_SECONDS)
            writer.write(answer(head))
            await writer.drain()
            if then_wait:
                await stop.wait()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/stream"
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


def response(status: str, content_type: str, body: bytes) -> Answer:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return lambda _head: head.encode() + body


def echoing(request_head: bytes) -> bytes:
    """A 401 that echoes the request's Authorization header back, as some gateways do."""
    line = next(line for line in request_head.split(b"\r\n") if line.lower().startswith(b"authorization:"))
    return response("401 Unauthorized", "text/plain", b"\x1b[31mrejected: " + line)(request_head)


BAD = [
    (response("404 Not Found", "text/html", b"<html><body>no such page</body></html>"), False, "HTTP 404 (text/html)"),
    (response("200 OK", "application/json", b'{"answer": "not a stream"}'), False, "HTTP 200 (application/json)"),
    (response("200 OK", "text/event-stream", b""), True, "HTTP 200 and then sent nothing in 1 s"),
    (echoing, False, "HTTP 401 (text/plain)"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("answer", "then_wait", "said"), BAD)
async def test_a_bad_target_is_one_line_exit_2(answer: Answer, then_wait: bool, said: str) -> None:
    async with canned_server(answer, then_wait) as url:
        status, out, err = await cli("probe", url, "--seconds", "1", "-H", f"Authorization: {_SECRET}")
    assert (status, out) == (2, "")
    assert said in err, err
    assert err.count("\n") == 1, err
    assert "sk-probe" not in err
    assert "\x1b" not in err


@pytest.mark.asyncio
async def test_the_first_bytes_shown_are_escaped_and_bounded() -> None:
    body = b"<html>\x1b[2J" + b"x" * 5000 + b"</html>"
    async with canned_server(response("500 Internal Server Error", "text/html", body)) as url:
        status, _out, err = await cli("probe", url, "--seconds", "1")
    assert status == 2
    assert "\\x1b[2J" in err
    assert "\x1b" not in err
    assert len(err) < 400


@pytest.mark.asyncio
async def test_a_value_given_with_h_is_never_shown_or_written(tmp_path: Path) -> None:
    echoed = "X-Echo: " + _SECRET
    stream = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{echoed}\r\nConnection: close\r\n\r\n"
    answer: Answer = lambda _head: (stream + "event: done\ndata: end\n\n").encode()  # noqa: E731
    written = tmp_path / "my.toml"
    async with canned_server(answer) as url:
        status, out, err = await cli("probe", url, "-H", f"Authorization: {_SECRET}", "--write", str(written))
    assert status == 0, err
    assert "x-echo: ***" in out.lower()
    assert _SECRET not in out + err + written.read_text()


@pytest.mark.asyncio
@pytest.mark.parametrize("variant", ["resume-skips", "resume-repeats"])
async def test_a_feed_that_does_not_go_on_after_the_last_id_does_not_resume(variant: str, tmp_path: Path) -> None:
    async with dialect_server("live-feed", variant) as base:
        result, written = await probe_and_write(base + "/events", None, tmp_path)
    assert result.findings.fields["resume"] is False
    assert load_profile(str(written)).resume is False
