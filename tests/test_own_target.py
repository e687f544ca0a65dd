"""Pointing the harness at your own server: an https target through the real Toxiproxy (clients
connect to the proxy and still name the target: Host header, TLS server name, certificate
check, as curl's --connect-to does), request headers such as credentials on every request and
in no report, and targets or headers the harness refuses in one line."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from typer.testing import CliRunner

from harness.catalogue import CATALOGUE_DIR
from harness.checks import Status
from harness.cli import app
from harness.errors import ConfigurationError
from harness.history import History
from harness.plan import make_plan
from harness.profile import DEFAULT_PROFILE
from harness.runner import Runner
from harness.scenario import load_scenario
from harness.target import Target, Timing, parse_headers
from harness.toxiproxy import Proxy, toxiproxy
from harness.transport import new_http_client, route_through, upstream_address
from tests.helpers.servers import ServerFactory
from tests.helpers.toxiproxy import require_toxiproxy

_HEAD_LIMIT = 16 * 1024
_SCENARIO = """
name = "https-interruption"
description = "The link goes down past the silence threshold mid-answer, to an https target."
[clients]
count = 2
max_tokens = 240
[[faults]]
at = "0.2s"
for = "silence + 0.3s"
action = "down"
[expect]
reason = "finished"
min_reconnects = 1
"""


@dataclass
class Front:
    """What a front in front of the target saw: each connection's request head and, over TLS,
    the server name the client asked for."""

    port: int
    server_names: list[str | None] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def recording_front(upstream: str, context: ssl.SSLContext | None = None) -> AsyncIterator[Front]:
    """Listen on a free port (with TLS when given a context) and pipe each connection to the
    plain `upstream` server, recording what the clients sent."""
    host, port = httpx.URL(upstream).host, httpx.URL(upstream).port
    if context is not None:
        context.sni_callback = lambda _socket, name, _context: front.server_names.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            front.heads.append(head[:_HEAD_LIMIT].decode("latin-1").lower())
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            upstream_writer.write(head)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    front = Front(server.sockets[0].getsockname()[1])
    try:
        yield front
    finally:
        server.close()
        await server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.mark.asyncio
async def test_an_https_target_streams_through_the_proxy_under_its_own_name(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_toxiproxy()
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # a private CA, as a user adds one
    scenario = tmp_path / "https.toml"
    scenario.write_text(_SCENARIO)
    async with (
        start_server() as server,
        recording_front(server.base_url, context) as front,
        toxiproxy(tmp_path) as api,
        new_http_client() as http,
    ):
        target = f"https://localhost:{front.port}/stream/search"
        run = await Runner(Target(target, DEFAULT_PROFILE), api, http).run(load_scenario(scenario))
    assert run.error is None
    failed = [(result.name, result.detail) for result in run.results if result.status == Status.FAIL]
    assert failed == []
    assert {result.name: result.status for result in run.results}["no_loss"] == Status.PASS
    resumed = [head for head in front.heads if "last-event-id:" in head]
    assert len(resumed) >= 2  # both clients reconnected through the proxy, over TLS
    assert set(front.server_names) == {"localhost"}
    assert all(f"host: localhost:{front.port}\r\n" in head for head in front.heads)


def test_route_through_keeps_the_target_s_name_and_connects_to_the_proxy() -> None:
    request = httpx.Request("GET", "https://sse.example:8443/stream?q=1")
    route_through(request, ("127.0.0.1", 5555))
    assert (request.url.host, request.url.port, request.url.raw_path) == ("127.0.0.1", 5555, b"/stream?q=1")
    assert request.headers["host"] == "sse.example:8443"
    assert request.extensions["sni_hostname"] == "sse.example"
    plain = httpx.Request("GET", "http://sse.example/stream")
    route_through(plain, ("127.0.0.1", 5555))
    assert plain.headers["host"] == "sse.example"
    assert "sni_hostname" not in plain.extensions


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://sse.example/s", "sse.example:443"),
        ("http://sse.example/s", "sse.example:80"),
        ("http://10.0.0.7:8000/s", "10.0.0.7:8000"),
        ("https://[::1]:9443/s", "[::1]:9443"),
    ],
)
def test_the_proxy_dials_the_target_s_host_and_port(url: str, address: str) -> None:
    assert upstream_address(httpx.URL(url)) == address


def test_browser_clients_refuse_an_https_target_in_one_line() -> None:
    scenario = load_scenario(CATALOGUE_DIR / "browser-stall.toml")
    target = Target("https://sse.example/s", DEFAULT_PROFILE)
    runner = Runner(target, None, None, chromium=object())  # type: ignore[arg-type]
    proxy = Proxy("p", "127.0.0.1:5555", "sse.example:443", True)
    plan = make_plan(scenario, target, Timing(heartbeat=0.25, silence=1.0, cap=6.0))
    with pytest.raises(ConfigurationError, match="run browser scenarios against an http target"):
        runner._client(plan, History(), proxy, 0)


@pytest.mark.parametrize("target", ["ftp://sse.example/s", "sse.example/stream", "https:///stream"])
def test_a_target_that_is_not_an_http_url_is_a_usage_error(target: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--target", target, "--report-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "http:// or https:// URL" in result.output


@pytest.mark.asyncio
async def test_request_headers_go_on_every_request_and_into_no_report(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    require_toxiproxy()
    secret = "Bearer s3cret-7f1e"
    scenario, report = tmp_path / "interruption.toml", tmp_path / "report"
    scenario.write_text(_SCENARIO)
    async with start_server() as server, recording_front(server.base_url) as front:
        target = f"http://127.0.0.1:{front.port}/stream/search"
        command = ["run", "--target", target, "-H", f"Authorization: {secret}", "-H", "X-Tenant: blue"]
        command += ["--scenario", str(scenario), "--report-dir", str(report)]
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.cli", *command, stdout=PIPE, stderr=PIPE
        )
        try:
            stdout, stderr = await asyncio.wait_for(cli.communicate(), 120)
        finally:
            if cli.returncode is None:
                cli.kill()
                await cli.wait()
    assert cli.returncode == 0, stderr.decode()[-2000:]
    assert len(front.heads) >= 5  # the probe, the baseline, two clients and their resumes
    assert all(f"authorization: {secret.lower()}\r\n" in head and "x-tenant: blue\r\n" in head for head in front.heads)
    assert [path for path in report.rglob("*") if path.is_file() and b"s3cret" in path.read_bytes()] == []
    assert b"s3cret" not in stdout + stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Authorization Bearer s3cret", "header #1 is not 'Name: value'"),
        ("Bad Name: s3cret", "header #1 is not 'Name: value'"),
        ("X-Token: s3cret\x00", "header X-Token: its value has control characters"),
        ("Last-Event-ID: s3cret", "header Last-Event-ID: the harness sets this one itself"),
        ("x-trace-id: s3cret", "header x-trace-id: the harness sets this one itself"),
    ],
)
def test_a_bad_header_is_one_line_that_does_not_show_its_value(line: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_headers([line], DEFAULT_PROFILE)
    assert message in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_header_values_are_kept_whole() -> None:
    headers = parse_headers(["Authorization:  Bearer a:b ", "X-Empty:"], DEFAULT_PROFILE)
    assert headers == {"Authorization": "Bearer a:b", "X-Empty": ""}


def test_a_reserved_header_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "-H", "Host: elsewhere", "--report-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "the harness sets this one itself" in result.output
