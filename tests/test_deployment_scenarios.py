"""The deployment group's scenarios through the real Toxiproxy and real proxies in front of the
reference server, as `sse-chaos run --group deployment` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import Status
from harness.checks.views import client_views
from harness.history import Kind
from harness.profile import DEFAULT_PROFILE
from harness.results import ScenarioRun
from harness.scenario import DEPLOYMENT_DIR, catalogue, load_scenario
from harness.session import SessionSettings, session
from tests.helpers.toxiproxy import require_toxiproxy


async def run_deployment_scenario(name: str, work_dir: Path, defect: str | None = None) -> ScenarioRun:
    require_toxiproxy()
    settings = SessionSettings(None, DEFAULT_PROFILE, {}, "fast", work_dir, defect=defect)
    async with session(settings) as runner:
        return await runner.run(load_scenario(DEPLOYMENT_DIR / f"{name}.toml"))


def test_the_deployment_group_is_apart_from_the_default_catalogue() -> None:
    deployment = {path.stem for path in catalogue(DEPLOYMENT_DIR)}
    assert "proxy-buffering" in deployment
    assert not deployment & {path.stem for path in catalogue()}
    assert all(load_scenario(path).deployment is not None for path in catalogue(DEPLOYMENT_DIR))


@pytest.mark.asyncio
async def test_proxy_buffering_passes_when_the_server_says_x_accel_buffering_no(tmp_path: Path) -> None:
    run = await run_deployment_scenario("proxy-buffering", tmp_path)
    assert run.passed, [(result.name, result.detail) for result in run.results]
    assert (tmp_path / "deployments" / "proxy-buffering" / "nginx.conf").exists()


@pytest.mark.asyncio
async def test_proxy_buffering_fails_heartbeat_timing_naming_bursts_when_the_server_does_not(tmp_path: Path) -> None:
    run = await run_deployment_scenario("proxy-buffering", tmp_path, defect="proxy-buffering")
    assert run.error is None
    failed = {result.name: result.detail for result in run.results if result.status == Status.FAIL}
    assert "burst: heartbeats 0.000 s apart, expected 0.25 s" in failed["heartbeat_timing"]
    assert "x-accel-buffering" in failed["headers"]  # the header the proxy acted on, passed on as the server said it


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "acted"),
    [
        ("instance-kill", ["kill", "start", "kill", "start", "kill", "start"]),
        ("rolling-restart", ["restart", "restart", "restart"]),
        ("process-pause", ["pause", "resume"]),
        ("redis-outage", ["pause", "resume"]),
    ],
)
async def test_a_stream_survives_its_deployment_s_faults(tmp_path: Path, name: str, acted: list[str]) -> None:
    """Three instances sharing Redis behind HAProxy: every check passes, the faults having acted."""
    run = await run_deployment_scenario(name, tmp_path)
    assert run.passed, (run.error, [(result.name, result.detail) for result in run.results])
    commands = [record.detail.split()[0] for record in run.history.of_kind(Kind.COMMAND)]
    assert commands == acted
    reconnected = [client for client in client_views(run.history) if len(client.connections) > 1]
    assert reconnected  # the faults reached the clients
