"""A real `redis-server` on a free port, for the reference server's shared replay store.

No persistence (`--save ''`, `--appendonly no`), its own directory, bound to 127.0.0.1.
`--port 0` cannot work (Redis would not listen on TCP at all), so a free port is picked and
picked again when another process takes it first.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from harness.errors import EnvironmentProblem
from harness.processes import stop_process
from harness.toxiproxy.server import free_port

_READY_DEADLINE_SECONDS = 10.0
_PING_TIMEOUT_SECONDS = 0.5
_BIND_ATTEMPTS = 5
_PORT_TAKEN = "Address already in use"


def find_redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise EnvironmentProblem("redis-server not found: install it (apt-get install redis-server)")
    return binary


class _PortTaken(Exception):
    """Another process bound the port between our pick and Redis's bind."""


class RedisServer:
    """One redis-server process the harness owns; it can be stopped and started again on its port."""

    def __init__(self, directory: Path) -> None:
        self.binary = find_redis_server()
        self.directory = directory
        self.log_path = directory / "redis.log"
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start on a free port (retried on a bind race), or on the port it had before."""
        for _ in range(_BIND_ATTEMPTS):
            port = self.port or free_port()
            try:
                await self._start_on(port)
            except _PortTaken:
                if self.port:
                    raise EnvironmentProblem(f"redis-server cannot listen again on port {port}: it is taken") from None
                continue
            self.port = port
            return
        raise EnvironmentProblem(f"redis-server found no free port in {_BIND_ATTEMPTS} attempts")

    async def _start_on(self, port: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log_start = log.tell()
            self._process = await asyncio.create_subprocess_exec(
                self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        try:
            await self._wait_ready(port, log_start)
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self, port: int, log_start: int) -> None:
        assert self._process is not None
        client = Redis(host="127.0.0.1", port=port, socket_timeout=_PING_TIMEOUT_SECONDS)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _READY_DEADLINE_SECONDS
        try:
            while True:
                if self._process.returncode is not None:
                    self._raise_failed(log_start)
                try:
                    await client.ping()
                    return
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    if loop.time() > give_up_at:
                        raise EnvironmentProblem(
                            f"redis-server did not answer within {_READY_DEADLINE_SECONDS:g} s"
                        ) from None
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def _raise_failed(self, log_start: int) -> None:
        with self.log_path.open("rb") as file:
            file.seek(log_start)
            lines = file.read().decode(errors="replace").strip().splitlines()
        last = lines[-1][:300] if lines else "no output"
        if any(_PORT_TAKEN in line for line in lines):
            raise _PortTaken(last)
        raise EnvironmentProblem(f"redis-server failed to start: {last}")

    def send_signal(self, signal: int) -> None:
        """Freeze (SIGSTOP) or wake (SIGCONT) it: a store that stops answering, not one that is gone."""
        if self._process is not None:
            self._process.send_signal(signal)

    async def stop(self) -> None:
        if self._process is not None:
            await stop_process(self._process)
            self._process = None


@asynccontextmanager
async def running_redis(directory: Path) -> AsyncIterator[RedisServer]:
    """A started RedisServer, always stopped on leaving the block."""
    server = RedisServer(directory)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[str]:
    """The URL (`redis://127.0.0.1:PORT/0`) of a redis-server started here, always stopped after."""
    async with running_redis(directory) as server:
        yield server.url
