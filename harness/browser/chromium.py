"""Headless Chromium on demand: launched by the first browser client of a run, closed with it.

The browser is `SSE_CHAOS_CHROMIUM`, else the system's Chromium (Debian's `chromium`), else the
one Playwright installs when asked (`playwright install chromium`); Playwright drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from harness.errors import EnvironmentProblem, Missing

CHROMIUM_ENV = "SSE_CHAOS_CHROMIUM"
_NAMES = ("chromium", "chromium-browser")
_LAUNCH_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class FoundChromium:
    path: str
    where: str  # how it was found: the variable, PATH or Playwright's own


def find_chromium(playwright_browser: Callable[[], str] | None = None) -> FoundChromium:
    """$SSE_CHAOS_CHROMIUM (an error when it names no executable), else `chromium` on PATH, else
    Playwright's own Chromium when one was installed (`playwright_browser` says where it would be)."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise Missing(
                f"{CHROMIUM_ENV}={configured[:200]!r} is not an executable file",
                "point it at a Chromium executable, or unset it",
            )
        return FoundChromium(configured, f"${CHROMIUM_ENV}")
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return FoundChromium(found, "PATH")
    if playwright_browser is not None and os.access(own := playwright_browser(), os.X_OK):
        return FoundChromium(own, "Playwright's own")
    raise Missing(
        f"browser clients need Chromium and none was found (${CHROMIUM_ENV}, PATH, Playwright's own)",
        f"apt-get install chromium, or `python -m playwright install chromium`, or set {CHROMIUM_ENV}",
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
                self._browser = await self._launch()
            return self._browser

    async def _launch(self) -> Browser:
        try:
            playwright = self._playwright = await async_playwright().start()
            executable = find_chromium(lambda: playwright.chromium.executable_path).path
            return await playwright.chromium.launch(
                executable_path=self._launcher(executable), args=_launch_args(), timeout=_LAUNCH_TIMEOUT_MS
            )
        except PlaywrightError as error:
            await self.aclose()
            raise EnvironmentProblem(f"cannot start Chromium: {first_line(error)}") from None
        except EnvironmentProblem:
            await self.aclose()
            raise

    def _launcher(self, executable: str) -> str:
        setpriv = _setpriv_if_root()
        if setpriv is None:
            return executable
        self._launcher_folder = tempfile.TemporaryDirectory(prefix="sse-chaos-chromium-")
        return _without_priority_boost(executable, setpriv, Path(self._launcher_folder.name))

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
