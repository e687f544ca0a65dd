"""Run the real Toxiproxy server: free port, readiness with a deadline, always stopped."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.processes import stop_process
from harness.toxiproxy.api import ToxiproxyAPI, ToxiproxyError
from harness.toxiproxy.binary import find_binary

_READY_DEADLINE_SECONDS = 10.0
_FAILED_MARKER = "Server finished with error"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ToxiproxyServer:
    """One toxiproxy-server process owned by the harness."""

    def __init__(self, binary: Path, log_path: Path) -> None:
        self.binary = binary
        self.log_path = log_path
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._log_start = 0  # where this process's lines begin in the (appended) log

    async def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            self._process = await asyncio.create_subprocess_exec(
                str(self.binary), "-host", "127.0.0.1", "-port", str(port),
                stdout=log, stderr=asyncio.subprocess.STDOUT, env=os.environ | {"LOG_LEVEL": "warn"},
            )  # fmt: skip
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        api = ToxiproxyAPI(self.url, timeout=1.0)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _READY_DEADLINE_SECONDS
        try:
            while True:
                self._fail_if_dead()
                try:
                    await api.version()
                    return
                except ToxiproxyError:
                    if loop.time() > give_up_at:
                        raise EnvironmentProblem(
                            f"toxiproxy-server did not answer within {_READY_DEADLINE_SECONDS:g} s"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            await api.aclose()

    def _fail_if_dead(self) -> None:
        assert self._process is not None
        with self.log_path.open("rb") as file:
            file.seek(self._log_start)
            log = file.read().decode(errors="replace")
        if self._process.returncode is not None or _FAILED_MARKER in log:
            last = log.strip().splitlines()[-1:] or ["no output"]
            raise EnvironmentProblem(f"toxiproxy-server failed to start: {last[0][:300]}")

    async def restart(self) -> str:
        await self.stop()
        await self.start()
        return self.url

    async def stop(self) -> None:
        if self._process is not None:
            await stop_process(self._process)
            self._process = None


@asynccontextmanager
async def toxiproxy(log_dir: Path | None = None) -> AsyncIterator[ToxiproxyAPI]:
    """An API client to $TOXIPROXY_URL if set, else to a server started here and always stopped."""
    external = os.environ.get("TOXIPROXY_URL")
    if external:
        api = ToxiproxyAPI(external)
        try:
            await api.version()
            yield api
        finally:
            await api.aclose()
        return
    with tempfile.TemporaryDirectory(prefix="sse-chaos-toxiproxy-") as scratch:
        server = ToxiproxyServer(find_binary(), (log_dir or Path(scratch)) / "toxiproxy.log")
        try:
            await server.start()
            api = ToxiproxyAPI(server.url, restarter=server.restart)
            try:
                yield api
            finally:
                await api.aclose()
        finally:
            await server.stop()
