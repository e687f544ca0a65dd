"""Reference-server instances the harness starts (`i0`, `i1`, ...), and the Redis they may share,
as a deployment process faults act on: signals to processes it owns, restarts on the same port,
health from `/healthz`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.deploy.base import Action, DeploymentError, Log
from harness.deploy.redis import RedisServer
from harness.embedded import EmbeddedServer, server_env

STORE = "redis"  # the shared store's id, for a fault's `instance = "store"`


class Fleet:
    """A deployment of embedded reference servers, and the Redis they share (when they do)."""

    def __init__(self, servers: list[EmbeddedServer], http: httpx.AsyncClient, redis: RedisServer | None) -> None:
        self.servers = {server.instance_id: server for server in servers}
        self.http = http
        self.redis = redis

    @property
    def instances(self) -> tuple[str, ...]:
        return tuple(self.servers)

    @property
    def store(self) -> str | None:
        return STORE if self.redis is not None else None

    async def act(self, action: Action, instance: str, log: Log) -> None:
        if instance == STORE and self.redis is not None:
            await _act_on_store(self.redis, action)
            log(f"{action} {STORE} (port {self.redis.port})")
            return
        server = self.servers.get(instance)
        if server is None:
            raise DeploymentError(f"no instance {instance!r} in this deployment (instances: {', '.join(self.servers)})")
        before = _pid(server)
        if action == "kill":
            await server.kill()
        elif action == "terminate":
            await server.stop()
        elif action == "pause":
            server.signal(signal.SIGSTOP)
        elif action == "resume":
            server.signal(signal.SIGCONT)
        elif action == "start":
            await server.start()
        else:
            await server.stop()
            await server.start()
            await server.wait_healthy(self.http)
        log(f"{action} {instance} (port {server.port}): pid {before} -> {_pid(server)}")

    async def stop(self) -> None:
        if self.redis is not None:  # a frozen store would hold the instances' drain up
            self.redis.send_signal(signal.SIGCONT)
        await asyncio.gather(*(server.stop() for server in self.servers.values()))


async def _act_on_store(redis: RedisServer, action: Action) -> None:
    """A store that stops answering (pause), or is gone (kill, terminate: it keeps nothing on disk,
    so the streams go with it), and comes back on its port (start, restart)."""
    if action in ("pause", "resume"):
        redis.send_signal(signal.SIGSTOP if action == "pause" else signal.SIGCONT)
        return
    if action == "kill":
        redis.send_signal(signal.SIGKILL)
    if action in ("kill", "terminate", "restart"):
        await redis.stop()
    if action in ("start", "restart"):
        await redis.start()


def _pid(server: EmbeddedServer) -> str:
    """The running process's id, or "-"."""
    return str(server.process.pid) if server.process is not None and server.running else "-"


@asynccontextmanager
async def fleet(
    count: int,
    timing: Mapping[str, float | int],
    work_dir: Path,
    defect: str | None = None,
    redis: RedisServer | None = None,
) -> AsyncIterator[Fleet]:
    """`count` instances started side by side, each with its log in `work_dir`, all healthy before
    the block, sharing `redis` as their replay store when given; every one stopped after it, on
    every path (a failure mid-start included)."""
    async with httpx.AsyncClient() as http:
        servers = [
            EmbeddedServer(
                server_env(timing, defect, redis.url if redis is not None else None, f"i{index}"),
                work_dir / ("reference-server.log" if count == 1 else f"reference-server-i{index}.log"),
            )
            for index in range(count)
        ]
        running = Fleet(servers, http, redis)
        try:
            await _each(server.start() for server in servers)
            await _each(server.wait_healthy(http) for server in servers)
            yield running
        finally:
            await running.stop()


async def _each(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Side by side; when one fails the others are cancelled and awaited, and its error raised."""
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
