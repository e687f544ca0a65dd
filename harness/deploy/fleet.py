"""Reference-server instances the harness starts (`i0`, `i1`, ...), as a deployment process faults
act on: signals to processes it owns, restarts on the same port, health from `/healthz`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.deploy.base import Action, DeploymentError, Log
from harness.embedded import EmbeddedServer, server_env


class Fleet:
    """A deployment of embedded reference servers."""

    def __init__(self, servers: list[EmbeddedServer], http: httpx.AsyncClient) -> None:
        self.servers = {server.instance_id: server for server in servers}
        self.http = http

    @property
    def instances(self) -> tuple[str, ...]:
        return tuple(self.servers)

    async def act(self, action: Action, instance: str, log: Log) -> None:
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
        await asyncio.gather(*(server.stop() for server in self.servers.values()))


def _pid(server: EmbeddedServer) -> str:
    """The running process's id, or "-"."""
    return str(server.process.pid) if server.process is not None and server.running else "-"


@asynccontextmanager
async def fleet(
    count: int, timing: Mapping[str, float | int], work_dir: Path, defect: str | None = None
) -> AsyncIterator[Fleet]:
    """`count` instances started side by side, each with its log in `work_dir`, all healthy before
    the block; every one stopped after it, on every path (a failure mid-start included)."""
    async with httpx.AsyncClient() as http:
        servers = [
            EmbeddedServer(
                server_env(timing, defect, {"INSTANCE_ID": f"i{index}"}),
                work_dir / ("reference-server.log" if count == 1 else f"reference-server-i{index}.log"),
            )
            for index in range(count)
        ]
        running = Fleet(servers, http)
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
