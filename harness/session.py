"""One session setup, shared by the CLI and the pytest plugin: the target (the embedded
reference server unless a URL is given), Toxiproxy, the HTTP client, the browser on demand,
and the runner over them. Everything it starts is stopped when its block ends, on every path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.browser import chromium_on_demand
from harness.embedded import TIMING_PROFILES, embedded_server
from harness.errors import ConfigurationError
from harness.profile import TargetProfile
from harness.runner import Runner
from harness.target import Target
from harness.toxiproxy import toxiproxy
from harness.transport import new_http_client


@dataclass(frozen=True)
class SessionSettings:
    """`target_url` None: the embedded reference server, with the `timing` profile's timings."""

    target_url: str | None
    profile: TargetProfile
    headers: Mapping[str, str]
    timing: str
    work_dir: Path  # logs of the processes the session starts
    report_dir: Path | None = None  # browser screenshots go here
    defect: str | None = None  # seeded in the embedded server (`sse-chaos selftest`)


@asynccontextmanager
async def reference_server(timing: str, work_dir: Path, defect: str | None = None) -> AsyncIterator[str]:
    """The embedded reference server's stream URL (with `defect` seeded), for the time of the block."""
    if timing not in TIMING_PROFILES:
        raise ConfigurationError(f"timing must be one of {', '.join(TIMING_PROFILES)}, not {timing!r}")
    log_path = work_dir / "reference-server.log"
    async with embedded_server(TIMING_PROFILES[timing], log_path, defect=defect) as server:
        yield server.stream_url


@asynccontextmanager
async def harness_for(target: Target, work_dir: Path, report_dir: Path | None = None) -> AsyncIterator[Runner]:
    """Toxiproxy, the HTTP client and the browser (launched on first need), and a runner over them."""
    async with (
        toxiproxy(work_dir) as api,
        new_http_client() as http,
        chromium_on_demand() as chromium,
    ):
        yield Runner(target, api, http, chromium, report_dir)


@asynccontextmanager
async def session(settings: SessionSettings) -> AsyncIterator[Runner]:
    async with AsyncExitStack() as stack:
        url = settings.target_url
        if url is None:
            url = await stack.enter_async_context(reference_server(settings.timing, settings.work_dir, settings.defect))
        target = Target(url, settings.profile, settings.headers)
        yield await stack.enter_async_context(harness_for(target, settings.work_dir, settings.report_dir))
