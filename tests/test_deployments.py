"""The harness's own deployment: reference-server instances behind HAProxy (or buffering nginx),
started on free ports and stopped on every path, `sse-chaos serve --instances N` included."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.deploy import balancers
from harness.deploy.embedded import embedded_deployment
from harness.deploy.spec import DeploymentSpec
from harness.errors import EnvironmentProblem
from tests.helpers.processes import alive, children
from tests.helpers.servers import TEST_TIMING

THREE = DeploymentSpec(instances=3, balancer="haproxy")


async def instance_ids(url: str, requests: int) -> list[str]:
    async with httpx.AsyncClient() as http:
        return [(await http.get(f"{url}/healthz")).headers["x-instance-id"] for _ in range(requests)]


@pytest.mark.asyncio
async def test_haproxy_round_robins_the_instances_and_everything_stops_after(tmp_path: Path) -> None:
    before = children()
    async with embedded_deployment(THREE, TEST_TIMING, tmp_path) as deployment:
        started = children() - before
        assert len(started) == 4  # three instances and HAProxy
        ids = await instance_ids(deployment.base_url, 6)
        assert sorted(ids[:3]) == ["i0", "i1", "i2"]
        assert ids[3:] == ids[:3]
    assert not any(alive(pid) for pid in started)


@pytest.mark.asyncio
async def test_haproxy_is_configured_for_streams(tmp_path: Path) -> None:
    async with embedded_deployment(THREE, TEST_TIMING, tmp_path):
        config = (tmp_path / "haproxy.cfg").read_text()
    cap = TEST_TIMING["stream_max_seconds"]
    for timeout in ("client", "server", "tunnel"):
        assert f"timeout {timeout} {balancers.stream_timeout(cap)}s" in config
    assert balancers.stream_timeout(cap) > cap
    assert "option httpchk GET /healthz" in config
    assert "balance roundrobin" in config


@pytest.mark.asyncio
async def test_a_request_that_meets_a_killed_instance_is_tried_on_another(tmp_path: Path) -> None:
    """Before the health check has taken it out, HAProxy still sends requests to a dead instance."""
    async with embedded_deployment(THREE, TEST_TIMING, tmp_path) as deployment:
        await deployment.fleet.servers["i1"].kill()
        async with httpx.AsyncClient() as http:
            answers = [await http.get(f"{deployment.base_url}/healthz") for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.headers["x-instance-id"] for answer in answers} == {"i0", "i2"}


async def stopped_taking_streams(http: httpx.AsyncClient, url: str) -> bool:
    """It says it drains, or it no longer takes connections."""
    try:
        return (await http.get(f"{url}/healthz", headers={"Connection": "close"})).json()["status"] == "draining"
    except httpx.HTTPError:
        return True


@pytest.mark.asyncio
async def test_a_stream_request_that_meets_a_draining_instance_is_tried_on_another(tmp_path: Path) -> None:
    """A draining instance answers 503 (docs/protocol.md §11) until the health check takes it out."""
    timing = TEST_TIMING | {"drain_seconds": 5}
    async with embedded_deployment(THREE, timing, tmp_path) as deployment, httpx.AsyncClient() as http:
        draining = deployment.fleet.servers["i0"]
        params = {"query": "q", "max_tokens": "4096"}
        async with http.stream("GET", draining.stream_url, params=params):  # keeps i0 draining
            draining.signal(signal.SIGTERM)
            while not await stopped_taking_streams(http, draining.base_url):
                await asyncio.sleep(0.01)
            answers = [await http.head(deployment.stream_url, params=params) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.headers["x-instance-id"] for answer in answers} == {"i1", "i2"}


@pytest.mark.asyncio
async def test_a_balancer_that_fails_to_start_stops_the_instances_started_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(balancers, "haproxy_config", lambda *_args: "frontend\n  no such directive\n")
    before = children()
    with pytest.raises(EnvironmentProblem, match=r"^haproxy exited at start"):
        async with embedded_deployment(THREE, TEST_TIMING, tmp_path):
            pytest.fail("the deployment started")
    assert children() == before
    logs = [tmp_path / f"reference-server-i{index}.log" for index in range(3)]
    assert all(log.exists() for log in logs)  # they had started


@pytest.mark.asyncio
async def test_an_instance_that_fails_to_start_stops_the_others(tmp_path: Path) -> None:
    before = children()
    with pytest.raises(EnvironmentProblem, match=r"the reference server failed to start: .*HEARTBEAT_INTERVAL"):
        async with embedded_deployment(THREE, TEST_TIMING | {"heartbeat_interval": -1}, tmp_path):
            pytest.fail("the deployment started")
    assert children() == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (THREE, "haproxy is not installed: scripts/setup installs it (apt-get install haproxy)"),
        (
            DeploymentSpec(balancer="nginx-buffering", instances=1),
            "nginx is not installed: scripts/setup installs it (apt-get install nginx)",
        ),
        (DeploymentSpec(store="redis"), "redis-server not found: install it (apt-get install redis-server)"),
    ],
)
async def test_a_missing_program_is_one_clear_line_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: DeploymentSpec, message: str
) -> None:
    monkeypatch.setattr(balancers.shutil, "which", lambda *_args, **_kwargs: None)
    before = children()
    with pytest.raises(EnvironmentProblem) as missing:
        async with embedded_deployment(spec, TEST_TIMING, tmp_path):
            pytest.fail("the deployment started")
    assert str(missing.value) == message
    assert children() == before


@pytest.mark.asyncio
@pytest.mark.parametrize(("defect", "heartbeats_together"), [(None, False), ("proxy-buffering", True)])
async def test_nginx_holds_a_stream_back_unless_the_server_says_x_accel_buffering_no(
    tmp_path: Path, defect: str | None, heartbeats_together: bool
) -> None:
    """Content slow enough (40 ms a chunk) that nginx's 4 KiB buffer holds several heartbeats."""
    spec = DeploymentSpec(instances=1, balancer="nginx-buffering")
    timing = TEST_TIMING | {"chunk_delay_ms": 40}
    async with (
        embedded_deployment(spec, timing, tmp_path, defect) as deployment,
        httpx.AsyncClient() as http,
        http.stream("GET", deployment.stream_url, params={"query": "q", "max_tokens": "80"}) as response,
    ):
        reads = [chunk async for chunk in response.aiter_raw()]
    assert response.headers["server"].startswith("nginx")
    assert any(read.count(b"event: heartbeat") > 1 for read in reads) is heartbeats_together


def test_serve_instances_prints_one_url_and_stops_everything_on_sigterm_or_ctrl_c(tmp_path: Path) -> None:
    for stop in (signal.SIGTERM, signal.SIGINT):
        serve = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "serve", "--instances", "3", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert serve.stdout is not None
            line = serve.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
            started = children(serve.pid)
            assert len(started) == 5  # Redis, three instances, HAProxy
            ids = httpx.get(f"{line.split()[-1]}/healthz", timeout=5).headers["x-instance-id"]
            assert ids in ("i0", "i1", "i2")
            serve.send_signal(stop)
            _out, err = serve.communicate(timeout=30)
        finally:
            serve.kill()
            serve.wait()
        assert serve.returncode == 0, err
        assert "sharing their replay log on Redis" in err
        assert not any(alive(pid) for pid in started)


def test_serve_instances_with_a_bad_setting_is_one_line_and_starts_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "--instances", "2", "--port", "0"],
        env={"STREAM_MAX_SECONDS": "soon", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: STREAM_MAX_SECONDS must be a number, got 'soon'"]
