"""The harness's own deployment: reference-server instances behind a real proxy, on free ports,
started for as long as a block needs it and stopped on every path (a failure mid-start included)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.deploy.balancers import buffering_nginx, haproxy
from harness.deploy.fleet import Fleet, fleet
from harness.deploy.redis import running_redis
from harness.deploy.spec import DeploymentSpec
from reference_server.config import ServerConfig


@dataclass(frozen=True)
class EmbeddedDeployment:
    base_url: str  # where clients connect: the balancer, or the one instance
    fleet: Fleet

    @property
    def stream_url(self) -> str:
        return f"{self.base_url}/stream/search"


@asynccontextmanager
async def embedded_deployment(
    spec: DeploymentSpec,
    timing: Mapping[str, float | int],
    work_dir: Path,
    defect: str | None = None,
    listen: tuple[str, int] = ("127.0.0.1", 0),
) -> AsyncIterator[EmbeddedDeployment]:
    """Redis when the instances share it, the instances (with `timing`, and `defect` seeded), then
    the balancer in front of them, on
    `listen` (HAProxy only; port 0: a free one); logs and configuration files in `work_dir`."""
    cap = float(timing.get("stream_max_seconds", ServerConfig.stream_max_seconds))
    async with AsyncExitStack() as stack:
        redis = None
        if spec.store == "redis":
            redis = await stack.enter_async_context(running_redis(work_dir / "redis"))
        running = await stack.enter_async_context(fleet(spec.instances, timing, work_dir, defect, redis))
        ports = [(name, server.port) for name, server in running.servers.items()]
        if spec.balancer == "haproxy":
            url = await stack.enter_async_context(haproxy(ports, cap, work_dir, *listen))
        elif spec.balancer == "nginx-buffering":
            url = await stack.enter_async_context(buffering_nginx(ports[0][1], cap, work_dir))
        else:
            url = next(iter(running.servers.values())).base_url
        yield EmbeddedDeployment(url, running)
