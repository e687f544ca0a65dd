"""`sse-chaos install-toxiproxy`: the pinned toxiproxy-server into a folder (the user cache unless
told otherwise), either the release's binary, downloaded and checked against the SHA-256 pinned
in `binary.py`, or built from source with Go.

Nothing half-written is ever left as the binary: it is written beside it in the same folder,
checked, made executable, and only then renamed into place (a rename within a folder is atomic).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from harness.errors import EnvironmentProblem, Missing
from harness.toxiproxy.binary import BINARY_NAME, PINNED_SHA256, TOXIPROXY_VERSION, platform_key, version_of

RELEASES_URL = "https://github.com/Shopify/toxiproxy/releases/download"
GO_MODULE = "github.com/Shopify/toxiproxy/v2"
_MAX_DOWNLOAD_BYTES = 128 * 1024 * 1024  # the release's binaries are about 20 MB
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
    return f"{releases_url.rstrip('/')}/v{TOXIPROXY_VERSION}/{BINARY_NAME}-{key}"


def download_release(folder: Path, releases_url: str = RELEASES_URL) -> Path:
    """The release's binary for this platform, refused unless its SHA-256 is the pinned one."""
    key = platform_key()
    pinned = PINNED_SHA256.get(key)
    if pinned is None:
        raise Missing(
            f"no SHA-256 of toxiproxy-server {TOXIPROXY_VERSION} is pinned for {key}, so no download is trusted",
            "run `sse-chaos install-toxiproxy --from-source` (needs Go 1.23 or newer)",
        )
    url = release_url(releases_url, key)
    with _staged(folder) as staging:
        digest = _fetch(url, staging)
        if digest != pinned:
            raise EnvironmentProblem(
                f"{url[:200]!r} sent a file whose SHA-256 is {digest}, not the pinned {pinned}: nothing installed"
            )
        return _put_in_place(staging, folder / BINARY_NAME)


@contextlib.contextmanager
def _staged(folder: Path) -> Iterator[Path]:
    """A new file in `folder` for the binary to be written to; removed unless it was renamed into place."""
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=f".{BINARY_NAME}.")
    os.close(descriptor)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


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
