"""The toxiproxy-server the harness runs: the pinned release, where it is looked for, what version
a binary says it is.

Looked for, in order: `$TOXIPROXY_SERVER`, `toxiproxy-server` on PATH, then the user's cache,
where `sse-chaos install-toxiproxy` puts it.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from harness.errors import Missing

TOXIPROXY_VERSION = "2.12.0"
BINARY_NAME = "toxiproxy-server"
SERVER_ENV = "TOXIPROXY_SERVER"

# SHA-256 of the release's binaries (github.com/Shopify/toxiproxy, v2.12.0), by platform: the one
# place they live. A platform missing here is refused by `sse-chaos install-toxiproxy`, which then
# says to build from source; add one only from the release's own checksums file.
PINNED_SHA256: dict[str, str] = {}

_SYSTEMS = {"Linux": "linux", "Darwin": "darwin"}
_MACHINES = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_VERSION_LINE = re.compile(rb"toxiproxy-server version (\S{1,40})\s*")
_VERSION_SECONDS = 10.0
_VERSION_BYTES = 4096


@dataclass(frozen=True)
class FoundBinary:
    path: Path
    where: str  # how it was found: the variable, PATH or the user cache


def platform_key(system: str | None = None, machine: str | None = None) -> str:
    """The release's name for this platform, as in `toxiproxy-server-linux-amd64`."""
    system = system or platform.system()
    machine = machine or platform.machine()
    return f"{_SYSTEMS.get(system, system.lower())}-{_MACHINES.get(machine, machine.lower())}"


def cache_folder() -> Path:
    """Where `sse-chaos install-toxiproxy` puts the pinned release: the platform's user cache."""
    return platformdirs.user_cache_path("sse-chaos") / f"toxiproxy-{TOXIPROXY_VERSION}"


def install_hint() -> str:
    if platform_key() in PINNED_SHA256:
        return "run `sse-chaos install-toxiproxy`"
    return "run `sse-chaos install-toxiproxy --from-source` (needs Go 1.23 or newer)"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def locate() -> FoundBinary:
    """$TOXIPROXY_SERVER (an error when it names no executable), else PATH, else the user cache."""
    configured = os.environ.get(SERVER_ENV)
    if configured:
        if not _executable(Path(configured)):
            raise Missing(
                f"{SERVER_ENV}={configured[:200]!r} is not an executable file",
                f"point it at toxiproxy-server, or unset it; to install one, {install_hint()}",
            )
        return FoundBinary(Path(configured), f"${SERVER_ENV}")
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return FoundBinary(Path(on_path), "PATH")
    cached = cache_folder() / BINARY_NAME
    if _executable(cached):
        return FoundBinary(cached, "the user cache")
    raise Missing(
        f"toxiproxy-server not found (${SERVER_ENV}, PATH, {cache_folder()})",
        f"{install_hint()}, or set {SERVER_ENV} or TOXIPROXY_URL",
    )


def find_binary() -> Path:
    return locate().path


def version_of(binary: Path) -> str | None:
    """What `binary -version` says it is ('2.12.0'); None when it does not run or says something else.
    Its output goes to a file, of which the first 4 KiB are read: a binary that floods it cannot
    fill memory, and one that hangs is killed after 10 s."""
    if not _executable(binary):
        return None
    with tempfile.TemporaryFile() as output:
        try:
            subprocess.run(
                [str(binary), "-version"], stdout=output, stderr=subprocess.STDOUT, timeout=_VERSION_SECONDS, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        output.seek(0)
        said = _VERSION_LINE.fullmatch(output.read(_VERSION_BYTES))
    return said.group(1).decode(errors="replace") if said else None
