"""Headless Chromium on demand: launched by the first browser client of a run, closed with it.

The browser is the system's Chromium (Debian's `chromium`, or `SSE_CHAOS_CHROMIUM`), driven
by Playwright; Playwright downloads no browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


def _launch_args() -> list[str]:
    # Streams go straight to the proxy under test, never through a proxy from the environment.
    args = ["--no-proxy-server"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return args


class Chromium:
    """One browser for a whole run; each browser client gets its own context (own sockets)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    async def browser(self) -> Browser:
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                await self.aclose()
                self._browser = await self._launch(find_chromium())
            return self._browser

    async def _launch(self, executable: str) -> Browser:
        try:
            self._playwright = await async_playwright().start()
            return await self._playwright.chromium.launch(
                executable_path=executable, args=_launch_args(), timeout=_LAUNCH_TIMEOUT_MS
            )
        except PlaywrightError as error:
            await self.aclose()
            raise EnvironmentProblem(f"cannot start Chromium ({executable}): {first_line(error)}") from None

    async def aclose(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        if playwright is not None:
            with contextlib.suppress(PlaywrightError):
                await playwright.stop()


@asynccontextmanager
async def chromium_on_demand() -> AsyncIterator[Chromium]:
    """A launcher whose browser, if one was started, is closed on every path out."""
    chromium = Chromium()
    try:
        yield chromium
    finally:
        await chromium.aclose()
