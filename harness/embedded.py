"""The reference server as a child process on a free port, for runs and tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.processes import stop_process
from reference_server.config import FAST_TIMING

# The server's timings by name: "fast" runs the catalogue in about a minute, "seed" is the contract's.
TIMING_PROFILES: dict[str, Mapping[str, float | int]] = {"fast": FAST_TIMING, "seed": {}}

_READY_PREFIX = b"listening on "
_START_DEADLINE_SECONDS = 15.0
_DEFECT = "DEFECT"  # the variables reference_server/config.py reads
_REPLAY_STORE = "REPLAY_STORE"


@dataclass
class EmbeddedServer:
    base_url: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def stream_url(self) -> str:
        return f"{self.base_url}/stream/search"


def timing_env(timing: Mapping[str, float | int]) -> dict[str, str]:
    return {name.upper(): f"{value:g}" for name, value in timing.items()}


def server_env(
    timing: Mapping[str, float | int], defect: str | None, replay_store: str | None = None
) -> dict[str, str]:
    """The child's environment: ours, the timings, and a seeded defect or a replay store only when
    one is asked for (a DEFECT or REPLAY_STORE left in the user's environment must not change the
    server a run judges)."""
    inherited = {name: value for name, value in os.environ.items() if name not in (_DEFECT, _REPLAY_STORE)}
    seeded = {_DEFECT: defect} if defect is not None else {}
    store = {_REPLAY_STORE: replay_store} if replay_store is not None else {}
    return inherited | timing_env(timing) | seeded | store | {"PYTHONUNBUFFERED": "1"}


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
    env = server_env(timing, defect, replay_store)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reference_server", "--port", "0", "--log-level", log_level,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    try:
        server = EmbeddedServer(await _wait_ready(process, log_path), process, log_path)
        yield server
    finally:
        await stop_process(process)


async def _wait_ready(process: asyncio.subprocess.Process, log_path: Path) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), _START_DEADLINE_SECONDS)
    except TimeoutError:
        raise EnvironmentProblem(f"the reference server did not start within {_START_DEADLINE_SECONDS:g} s") from None
    if not line.startswith(_READY_PREFIX):
        await process.wait()
        raise EnvironmentProblem(f"the reference server failed to start: {_last_line(log_path)}")
    return line[len(_READY_PREFIX) :].decode().strip()


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "no output"
