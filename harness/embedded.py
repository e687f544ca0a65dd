"""The reference server as a child process on a free port, for runs and tests. An instance keeps
its port across restarts (a load balancer's configuration names it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.errors import EnvironmentProblem
from harness.processes import stop_process
from reference_server.config import FAST_TIMING

# The server's timings by name: "fast" runs the catalogue in about a minute, "seed" is the contract's.
TIMING_PROFILES: dict[str, Mapping[str, float | int]] = {"fast": FAST_TIMING, "seed": {}}

_READY_PREFIX = b"listening on "
_START_DEADLINE_SECONDS = 15.0
_HEALTH_POLL_SECONDS = 0.05
_DEFECT = "DEFECT"  # the variables reference_server/config.py reads
_REPLAY_STORE = "REPLAY_STORE"
_INSTANCE_ID = "INSTANCE_ID"
_DRAIN_SECONDS = "DRAIN_SECONDS"
_DEFAULT_DRAIN_SECONDS = 5.0
_STOP_MARGIN_SECONDS = 5.0  # past its drain, a server that has not exited is killed


@dataclass
class EmbeddedServer:
    """One reference-server process: started, stopped, signalled and started again on its port."""

    env: dict[str, str]
    log_path: Path
    log_level: str = "info"
    port: int = 0  # 0 until it first listens
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def instance_id(self) -> str:
        return self.env.get(_INSTANCE_ID, "")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"{self.base_url}/stream/search"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start the process (on its port, once it has one) and return once it listens; a server
        that does not is stopped and an EnvironmentProblem says why. Nothing when it runs."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reference_server", "--port", str(self.port), "--log-level", self.log_level,
                env=self.env, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        try:
            url = await _wait_ready(self.process, self.log_path)
        except BaseException:
            await stop_process(self.process)
            raise
        self.port = httpx.URL(url).port or 0

    async def stop(self) -> None:
        """SIGTERM (the server drains its streams), SIGKILL past the drain. A paused one is woken first."""
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        await stop_process(self.process, self._drain_seconds() + _STOP_MARGIN_SECONDS)

    async def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.process is not None:
            self.signal(signal.SIGKILL)
            await self.process.wait()

    def signal(self, number: signal.Signals) -> None:
        if self.process is not None and self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(number)

    async def wait_healthy(self, http: httpx.AsyncClient, deadline: float = _START_DEADLINE_SECONDS) -> None:
        """Until `/healthz` says ok, at most `deadline` seconds."""
        try:
            async with asyncio.timeout(deadline):
                while True:
                    if await self._healthy(http):
                        return
                    await asyncio.sleep(_HEALTH_POLL_SECONDS)
        except TimeoutError:
            raise EnvironmentProblem(f"instance {self.instance_id} was not healthy within {deadline:g} s") from None

    async def _healthy(self, http: httpx.AsyncClient) -> bool:
        try:
            response = await http.get(f"{self.base_url}/healthz", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("status") == "ok"

    def _drain_seconds(self) -> float:
        return float(self.env.get(_DRAIN_SECONDS, _DEFAULT_DRAIN_SECONDS))


def timing_env(timing: Mapping[str, float | int]) -> dict[str, str]:
    return {name.upper(): f"{value:g}" for name, value in timing.items()}


def server_env(
    timing: Mapping[str, float | int],
    defect: str | None,
    replay_store: str | None = None,
    instance_id: str | None = None,
) -> dict[str, str]:
    """The child's environment: ours, the timings, and a seeded defect, a replay store or an
    instance id only when one is asked for (a DEFECT or REPLAY_STORE left in the user's environment
    must not change the server a run judges)."""
    inherited = {name: value for name, value in os.environ.items() if name not in (_DEFECT, _REPLAY_STORE)}
    chosen = {_DEFECT: defect, _REPLAY_STORE: replay_store, _INSTANCE_ID: instance_id}
    given = {name: value for name, value in chosen.items() if value is not None}
    return inherited | timing_env(timing) | given | {"PYTHONUNBUFFERED": "1"}


@asynccontextmanager
async def embedded_server(
    timing: Mapping[str, float | int],
    log_path: Path,
    log_level: str = "info",
    defect: str | None = None,
    replay_store: str | None = None,
) -> AsyncIterator[EmbeddedServer]:
    """Start `python -m reference_server --port 0` (with `defect` seeded, reference_server/defects.py;
    on `replay_store`, a REPLAY_STORE URL, else in memory), yield once it listens, always stop it."""
    server = EmbeddedServer(server_env(timing, defect, replay_store), log_path, log_level)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def _wait_ready(process: asyncio.subprocess.Process, log_path: Path) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), _START_DEADLINE_SECONDS)
    except TimeoutError:
        raise EnvironmentProblem(f"the reference server did not start within {_START_DEADLINE_SECONDS:g} s") from None
    if not line.startswith(_READY_PREFIX):
        await process.wait()
        raise EnvironmentProblem(f"the reference server failed to start: {last_line(log_path)}")
    return line[len(_READY_PREFIX) :].decode().strip()


def last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "no output"
