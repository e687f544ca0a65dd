"""`sse-chaos install-toxiproxy`: the pinned toxiproxy-server into a folder (the user cache unless
told otherwise), either unpacked from the release's archive, downloaded and checked against the
SHA-256 pinned in `binary.py` before it is opened, or built from source with Go.

Nothing half-written is ever left as the binary: it is written beside it, in a scratch folder inside
the same folder, checked, made executable, and only then renamed into place (a rename within a
file system is atomic); the scratch folder goes on every path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import zlib
from pathlib import Path, PurePosixPath

import httpx

from harness.errors import EnvironmentProblem, Missing
from harness.toxiproxy.binary import (
    BINARY_NAME,
    FROM_SOURCE_HINT,
    PINNED_SHA256,
    TOXIPROXY_VERSION,
    platform_key,
    version_of,
)

RELEASES_URL = "https://github.com/Shopify/toxiproxy/releases/download"
GO_MODULE = "github.com/Shopify/toxiproxy/v2"
# Far above the release's archive and its toxiproxy-server (the one built here from source is 16 MB).
_MAX_DOWNLOAD_BYTES = 128 * 1024 * 1024
_MAX_SERVER_BYTES = 128 * 1024 * 1024
_DOWNLOAD_SECONDS = 600.0
_READ_SECONDS = 30.0
_BUILD_SECONDS = 900.0  # a first build fetches the module and its dependencies
_LOG_TAIL_BYTES = 4096


def install(folder: Path, from_source: bool, releases_url: str = RELEASES_URL) -> tuple[Path, bool]:
    """The pinned toxiproxy-server in `folder`, and whether it had to be installed (False: it was there)."""
    binary = folder / BINARY_NAME
    if version_of(binary) == TOXIPROXY_VERSION:
        return binary, False
    folder.mkdir(parents=True, exist_ok=True)
    return (build_from_source(folder) if from_source else download_release(folder, releases_url)), True


def release_url(releases_url: str, key: str) -> str:
    """The release's archive for a platform, as in `v2.12.0/toxiproxy_2.12.0_linux_amd64.tar.gz`."""
    system, _, machine = key.partition("-")
    return f"{releases_url.rstrip('/')}/v{TOXIPROXY_VERSION}/toxiproxy_{TOXIPROXY_VERSION}_{system}_{machine}.tar.gz"


def download_release(folder: Path, releases_url: str = RELEASES_URL) -> Path:
    """The release's archive for this platform, refused unless its SHA-256 is the pinned one, then its
    toxiproxy-server, unpacked in a scratch folder inside `folder`, checked and renamed into place."""
    key = platform_key()
    pinned = _trusted_sha256(key)
    url = release_url(releases_url, key)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{BINARY_NAME}-download.") as scratch:
        work = Path(scratch)
        archive = work / "release.tar.gz"
        digest = _fetch(url, archive)
        if digest != pinned:
            raise EnvironmentProblem(
                f"{url[:200]!r} sent a file whose SHA-256 is {digest}, not the pinned {pinned}: nothing installed"
            )
        _unpack_server(archive, work, url)
        return _put_in_place(work / BINARY_NAME, folder / BINARY_NAME)


def _fetch(url: str, destination: Path) -> str:
    """Write what `url` answers into `destination`, bounded in size and time; its SHA-256."""
    digest, size = hashlib.sha256(), 0
    give_up_at = time.monotonic() + _DOWNLOAD_SECONDS
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=_READ_SECONDS) as http,
            http.stream("GET", url) as response,
            destination.open("wb") as file,
        ):
            if response.status_code != 200:
                raise EnvironmentProblem(f"{url[:200]!r} answered HTTP {response.status_code}: nothing installed")
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > _MAX_DOWNLOAD_BYTES or time.monotonic() > give_up_at:
                    raise EnvironmentProblem(
                        f"{url[:200]!r} sent more than {_MAX_DOWNLOAD_BYTES} bytes or took more than"
                        f" {_DOWNLOAD_SECONDS:g} s: nothing installed"
                    )
                digest.update(chunk)
                file.write(chunk)
    except httpx.HTTPError as error:
        raise EnvironmentProblem(
            f"downloading {url[:200]!r} failed ({type(error).__name__}: {str(error)[:200]}): nothing installed"
        ) from None
    return digest.hexdigest()


def _trusted_sha256(key: str) -> str:
    """The pinned SHA-256 of the platform's archive, once it is known the archive can be opened safely."""
    pinned = PINNED_SHA256.get(key)
    if pinned is None:
        raise Missing(
            f"no SHA-256 of toxiproxy {TOXIPROXY_VERSION}'s archive is pinned for {key}, so no download is trusted",
            FROM_SOURCE_HINT,
        )
    if not hasattr(tarfile, "data_filter"):  # tarfile's extraction filters came with Python 3.11.4
        raise Missing(
            "this Python's tarfile has no extraction filters (they came with 3.11.4), so no archive is opened",
            f"use Python 3.11.4 or newer, or {FROM_SOURCE_HINT}",
        )
    return pinned


def _unpack_server(archive: Path, work: Path, url: str) -> None:
    """The archive's toxiproxy-server, and nothing else, written as `work/toxiproxy-server` whatever its
    path inside: so no name in the archive can reach outside `work`."""
    try:
        with tarfile.open(archive, "r:gz") as release:
            server = _server_member(release, url)
            release.extract(server.replace(name=BINARY_NAME, deep=False), work, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise EnvironmentProblem(
            f"{url[:200]!r} is not a readable .tar.gz ({type(error).__name__}: {str(error)[:200]}): nothing installed"
        ) from None


def _server_member(release: tarfile.TarFile, url: str) -> tarfile.TarInfo:
    """The first member named toxiproxy-server (at any depth): a regular file of bounded size."""
    for member in release:
        if PurePosixPath(member.name).name != BINARY_NAME:
            continue
        if not member.isreg():
            raise EnvironmentProblem(
                f"{url[:200]!r} holds a {BINARY_NAME} that is not a regular file (a link, a folder or a device):"
                " nothing installed"
            )
        if member.size > _MAX_SERVER_BYTES:
            raise EnvironmentProblem(
                f"{url[:200]!r} holds a {BINARY_NAME} of {member.size} bytes, more than {_MAX_SERVER_BYTES}:"
                " nothing installed"
            )
        return member
    raise EnvironmentProblem(f"{url[:200]!r} holds no {BINARY_NAME}: nothing installed")


def build_from_source(folder: Path) -> Path:
    """`go install` of the pinned module in a scratch folder inside `folder`, then renamed into place."""
    go = shutil.which("go")
    if go is None:
        raise Missing(
            f"Go is needed to build toxiproxy-server {TOXIPROXY_VERSION} and none is on PATH",
            "install Go 1.23 or newer, then run this again",
        )
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{BINARY_NAME}-build.") as scratch:
        work = Path(scratch)
        _go_install(go, work)
        return _put_in_place(work / "server", folder / BINARY_NAME)


def _go_install(go: str, work: Path) -> None:
    """Go's own output (module downloads, compiler errors) goes to a log; its last line tells a failure."""
    command = [
        go, "install", "-ldflags", f"-X {GO_MODULE}.Version={TOXIPROXY_VERSION}",
        f"{GO_MODULE}/cmd/server@v{TOXIPROXY_VERSION}",
    ]  # fmt: skip
    env = os.environ | {"CGO_ENABLED": "0", "GOBIN": str(work), "GOFLAGS": "-mod=mod"}
    log_path = work / "go.log"
    with log_path.open("wb") as log:
        # Its own session, so that a build past its deadline is stopped with every compiler it started.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            status = process.wait(_BUILD_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise EnvironmentProblem(f"go install did not finish within {_BUILD_SECONDS:g} s") from None
    if status != 0:
        raise EnvironmentProblem(f"go install failed (exit {status}): {_last_line(log_path)}")


def _last_line(path: Path) -> str:
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - _LOG_TAIL_BYTES))
        lines = file.read().decode(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "no output"


def _put_in_place(candidate: Path, binary: Path) -> Path:
    """Make `candidate` executable, check it runs and says the pinned version, then rename it to `binary`."""
    candidate.chmod(0o755)
    said = version_of(candidate)
    if said != TOXIPROXY_VERSION:
        raise EnvironmentProblem(
            f"the new toxiproxy-server says version {said!r} instead of {TOXIPROXY_VERSION!r} (or does not run"
            " on this machine): nothing installed"
        )
    candidate.replace(binary)
    return binary
