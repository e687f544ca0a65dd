"""Headless Chromium on demand: launched by the first browser client of a run, closed with it.

The browser is the system's Chromium (Debian's `chromium`, or `SSE_CHAOS_CHROMIUM`), driven
by Playwright; Playwright downloads no browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from harness.errors import EnvironmentProblem

CHROMIUM_ENV = "SSE_CHAOS_CHROMIUM"
_NAMES = ("chromium", "chromium-browser")
_LAUNCH_TIMEOUT_MS = 30_000


def find_chromium() -> str:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise EnvironmentProblem(f"{CHROMIUM_ENV}={configured[:200]} is not an executable file")
        return configured
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise EnvironmentProblem(
        f"browser clients need Chromium and none is on PATH: run scripts/install-chromium or set {CHROMIUM_ENV}"
    )


def first_line(error: PlaywrightError) -> str:
    """Playwright's messages run to many lines of call log; the first says what failed."""
    return (error.message or type(error).__name__).splitlines()[0][:200]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _launch_args() -> list[str]:
    # Streams go straight to the proxy under test, never through a proxy from the environment.
    args = ["--no-proxy-server"]
    if _is_root():
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return args


def _setpriv_if_root() -> str | None:
    return shutil.which("setpriv") if _is_root() else None


def _without_priority_boost(executable: str, setpriv: str, folder: Path) -> str:
    """Chromium raises its compositor, IO and renderer main threads to nice -8 when it may, that
    is as root. On 2 cores that starved everything else at nice 0 (the server under test,
    Toxiproxy, the harness) for 100-300 ms at a time while pages rendered: heartbeats looked late
    through no fault of the server. As root, Chromium starts through setpriv without the
    capability to raise priority, so its threads share the CPU like everything else."""
    wrapper = folder / "chromium"
    wrapper.write_text(
        f'#!/bin/sh\nexec {shlex.quote(setpriv)} --bounding-set -sys_nice -- {shlex.quote(executable)} "$@"\n'
    )
    wrapper.chmod(0o700)
    return str(wrapper)


class Chromium:
    """One browser for a whole run; each browser client gets its own context (own sockets)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._launcher_folder: tempfile.TemporaryDirectory[str] | None = None
        self.warm = False  # a page has been through the browser since it was launched (see warmup.py)

    async def browser(self) -> Browser:
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                await self.aclose()
                self._browser = await self._launch(find_chromium())
            return self._browser

    async def _launch(self, executable: str) -> Browser:
        launcher, setpriv = executable, _setpriv_if_root()
        if setpriv is not None:
            self._launcher_folder = tempfile.TemporaryDirectory(prefix="sse-chaos-chromium-")
            launcher = _without_priority_boost(executable, setpriv, Path(self._launcher_folder.name))
        try:
            self._playwright = await async_playwright().start()
            return await self._playwright.chromium.launch(
                executable_path=launcher, args=_launch_args(), timeout=_LAUNCH_TIMEOUT_MS
            )
        except PlaywrightError as error:
            await self.aclose()
            raise EnvironmentProblem(f"cannot start Chromium ({executable}): {first_line(error)}") from None

    async def aclose(self) -> None:
        browser, playwright, folder = self._browser, self._playwright, self._launcher_folder
        self._browser = self._playwright = self._launcher_folder = None
        self.warm = False
        if browser is not None:
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        if playwright is not None:
            with contextlib.suppress(PlaywrightError):
                await playwright.stop()
        if folder is not None:
            folder.cleanup()


@asynccontextmanager
async def chromium_on_demand() -> AsyncIterator[Chromium]:
    """A launcher whose browser, if one was started, is closed on every path out."""
    chromium = Chromium()
    try:
        yield chromium
    finally:
        await chromium.aclose()
