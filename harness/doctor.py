"""`sse-chaos doctor`: what a run needs from this machine, one line per item: ok, a warning (the
run goes on, worse), or missing (the default run, the whole catalogue against the embedded
server, cannot go on without it), with how to fix it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.catalogue import CATALOGUE_DIR, PROFILES_DIR
from harness.errors import HarnessError, Missing
from harness.scenario import Scenario, catalogue, load_scenario
from harness.sse import COMPILED
from harness.target import Target
from harness.toxiproxy.binary import TOXIPROXY_VERSION, install_hint, locate, version_of
from harness.wording import counted
from reference_server.open_files import OpenFileLimit, raise_open_file_limit

_COMMAND_SECONDS = 20.0
_OUTPUT_BYTES = 4096
# Code points the reference answer needs a font for: a CJK ideograph and an emoji.
_GLYPHS = {"6771": "CJK (東)", "1f680": "emoji (🚀)"}
_FONT_PACKAGES = "fonts-wqy-microhei fonts-noto-color-emoji"
_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    MISSING = "missing"


@dataclass(frozen=True)
class Finding:
    item: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.status.value:<8} {self.item:<16} {self.detail}{fix}"


def examine(target: Target | None = None) -> list[Finding]:
    """Every item, in the order `sse-chaos doctor` shows them."""
    findings = [
        python_finding(sys.version_info[:3]),
        parser_finding(COMPILED),
        catalogue_finding(),
        toxiproxy_finding(),
        chromium_finding(),
        fonts_finding(),
    ]
    scenarios = [load_scenario(path) for path in catalogue()]
    if scenarios:
        largest = max(scenarios, key=lambda scenario: scenario.client_count)
        findings += [open_files_finding(largest, raise_open_file_limit()), ports_finding(largest)]
    if target is not None:
        findings.append(target_finding(target))
    return findings


def python_finding(version: tuple[int, ...]) -> Finding:
    shown = ".".join(str(part) for part in version)
    if version[:2] >= (3, 11):
        return Finding("python", Status.OK, f"{shown} ({sys.executable})")
    return Finding("python", Status.MISSING, f"{shown}: sse-chaos needs 3.11 or newer", "install it with Python 3.11+")


def parser_finding(compiled: bool) -> Finding:
    if compiled:
        return Finding("parser", Status.OK, "the compiled SSE parser")
    return Finding(
        "parser",
        Status.WARNING,
        "the compiled SSE parser was not built: the Python one is used, about 3.5x slower",
        "install a C compiler, then reinstall sse-chaos from its source (pip install --no-binary sse-chaos)",
    )


def catalogue_finding() -> Finding:
    scenarios, profiles = catalogue(), sorted(PROFILES_DIR.glob("*.toml"))
    if not scenarios:
        return Finding("catalogue", Status.MISSING, f"no scenario files in {CATALOGUE_DIR}", "reinstall sse-chaos")
    shown = f"{counted(len(scenarios), 'scenario')}, {counted(len(profiles), 'profile')} in {CATALOGUE_DIR}"
    return Finding("catalogue", Status.OK, shown)


def toxiproxy_finding() -> Finding:
    external = os.environ.get("TOXIPROXY_URL")
    if external:
        return _external_toxiproxy(external)
    try:
        found = locate()
    except Missing as missing:
        return Finding("toxiproxy", Status.MISSING, missing.what, missing.fix)
    version = version_of(found.path)
    where = f"{found.path} (from {found.where})"
    if version == TOXIPROXY_VERSION:
        return Finding("toxiproxy", Status.OK, f"{version} at {where}")
    if version is None:
        return Finding("toxiproxy", Status.MISSING, f"{where} does not run or does not say its version", install_hint())
    return Finding(
        "toxiproxy",
        Status.WARNING,
        f"{version} at {where}; sse-chaos is tested with {TOXIPROXY_VERSION}",
        f"{install_hint()}, and put it first",
    )


def _external_toxiproxy(url: str) -> Finding:
    from harness.toxiproxy.api import ToxiproxyAPI

    async def version() -> str:
        api = ToxiproxyAPI(url, timeout=5.0)
        try:
            return await api.version()
        finally:
            await api.aclose()

    try:
        said = asyncio.run(version())
    except HarnessError as error:
        return Finding(
            "toxiproxy",
            Status.MISSING,
            f"TOXIPROXY_URL={url[:200]!r} does not answer: {str(error)[:200]}",
            "start that Toxiproxy, or unset TOXIPROXY_URL to let sse-chaos start its own",
        )
    return Finding("toxiproxy", Status.OK, f"{said[:40]!r} at TOXIPROXY_URL={url[:200]!r}")


def chromium_finding() -> Finding:
    from harness.browser.chromium import find_chromium

    try:
        found = find_chromium(_playwright_chromium)
    except Missing as missing:
        return Finding("chromium", Status.MISSING, missing.what, missing.fix)
    said = _first_line_of([found.path, "--version"])
    return Finding("chromium", Status.OK, f"{said or 'version unknown'} at {found.path} (from {found.where})")


def _playwright_chromium() -> str:
    """Where `playwright install chromium` puts its browser (whether or not it did)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return playwright.chromium.executable_path


def fonts_finding() -> Finding:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return Finding(
            "fonts", Status.WARNING, "cannot tell: fc-list (fontconfig) is not installed", "apt-get install fontconfig"
        )
    lacking = [name for point, name in _GLYPHS.items() if not _first_line_of([fc_list, f":charset={point}", "family"])]
    if lacking:
        return Finding(
            "fonts",
            Status.WARNING,
            f"no font for {' or '.join(lacking)}: screenshots show those characters as boxes",
            f"apt-get install {_FONT_PACKAGES}",
        )
    return Finding("fonts", Status.OK, f"fonts for {' and '.join(_GLYPHS.values())}")


def open_files_finding(largest: Scenario, limit: OpenFileLimit) -> Finding:
    """`limit` as a run raises it at start (the soft limit up to the hard one)."""
    about = f"the largest scenario ({largest.name}, {largest.client_count} clients) needs about"
    detail = f"{limit.shown()} allowed; {about} {limit.needed_for(largest.client_count)}"
    if limit.allows(largest.client_count):
        return Finding("open files", Status.OK, detail)
    return Finding("open files", Status.MISSING, detail, limit.fix(largest.client_count))


def ports_finding(largest: Scenario) -> Finding:
    """Each client's connection takes an ephemeral port twice: to the proxy, and the proxy's to the server."""
    need = 2 * largest.client_count
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
    except OSError as error:
        return Finding("ports", Status.MISSING, f"cannot listen on 127.0.0.1: {error}", "allow listening on 127.0.0.1")
    if not _PORT_RANGE.exists():
        return Finding("ports", Status.OK, "listening on 127.0.0.1 works")
    low, high = (int(part) for part in _PORT_RANGE.read_text().split()[:2])
    count = high - low + 1
    detail = f"{count} ephemeral ports ({low}-{high}); the largest scenario ({largest.name}) uses about {need}"
    if count < need:
        return Finding(
            "ports", Status.MISSING, detail, f"sysctl net.ipv4.ip_local_port_range='{high - need + 1} {high}'"
        )
    return Finding("ports", Status.OK, detail)


def target_finding(target: Target) -> Finding:
    from harness.target import probe_timing
    from harness.transport import new_http_client

    async def probe() -> str:
        async with new_http_client() as http:
            timing = await probe_timing(http, target)
        shown = {"heartbeat": timing.heartbeat, "silence": timing.silence, "cap": timing.cap}
        return ", ".join(f"{name} {value:g} s" if value else f"{name} not advertised" for name, value in shown.items())

    try:
        timing = asyncio.run(probe())
    except HarnessError as error:
        return Finding("target", Status.MISSING, str(error), "start the server under test, or check --target and -H")
    return Finding("target", Status.OK, f"{target.url[:200]!r} answered: {timing}")


def _first_line_of(command: list[str]) -> str:
    """The first line `command` prints, '' when it fails; what it prints on stderr is dropped (Debian's
    chromium wrapper prints a shell error there on machines where /dev/shm is mounted twice)."""
    with tempfile.TemporaryFile() as output:
        try:
            subprocess.run(command, stdout=output, stderr=subprocess.DEVNULL, timeout=_COMMAND_SECONDS, check=True)
        except (OSError, subprocess.SubprocessError):
            return ""
        output.seek(0)
        lines = output.read(_OUTPUT_BYTES).decode(errors="replace").strip().splitlines()
    return lines[0][:200] if lines else ""


def exit_status(findings: list[Finding]) -> int:
    return 1 if any(finding.status == Status.MISSING for finding in findings) else 0
