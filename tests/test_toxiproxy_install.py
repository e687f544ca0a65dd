"""`sse-chaos install-toxiproxy` and the binary's lookup: fake release archives on a local HTTP server
(good checksum, bad checksum, 404, truncated body, no toxiproxy-server, a link or an oversized one in
its place), a fake Go, and the lookup's order. No test needs the internet: the fake archives' own
checksums are pinned in place of the release's."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import platform
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import EnvironmentProblem, Missing
from harness.toxiproxy import binary as pinned
from harness.toxiproxy.binary import (
    FROM_SOURCE_HINT,
    TOXIPROXY_VERSION,
    cache_folder,
    install_hint,
    locate,
    platform_key,
    version_of,
)
from harness.toxiproxy.install import build_from_source, install, release_url

GOOD = f'#!/bin/sh\necho "toxiproxy-server version {TOXIPROXY_VERSION}"\n'.encode()
OLDER = b'#!/bin/sh\necho "toxiproxy-server version 2.11.0"\n'
# The client is made to pass for the server, so that only the rules keep it from being installed.
CLI = GOOD
ARCHIVE = release_url("", platform_key()).lstrip("/")
TOO_BIG = 128 * 1024 * 1024 + 1
STRANGER = 4321


def _file(name: str, body: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A regular file owned by a stranger: an extraction as root without the "data" filter would keep him."""
    member = tarfile.TarInfo(name)
    member.size, member.mode, member.uid, member.uname = len(body), 0o4755, STRANGER, ""
    return member, body


def _link(name: str, kind: bytes, target: str) -> tuple[tarfile.TarInfo, bytes]:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member, b""


def _tar_gz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """An archive laid out as the release's: a license, a readme, the client, then what is given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, body in (_file("LICENSE", b"MIT"), _file("README.md", b"#"), _file("toxiproxy-cli", CLI), *members):
            archive.addfile(member, io.BytesIO(body) if member.isreg() else None)
    return buffer.getvalue()


def _claims_size(name: str, size: int) -> bytes:
    """An archive whose only member's header claims `size` bytes, and none of them follow."""
    member = tarfile.TarInfo(name)
    member.size = size
    return gzip.compress(member.tobuf(tarfile.GNU_FORMAT))


ARCHIVES = {
    "good": _tar_gz(_file("toxiproxy-server", GOOD)),
    "nested": _tar_gz(_file("toxiproxy_2.12.0/bin/toxiproxy-server", GOOD)),
    "climbing": _tar_gz(_file("../../toxiproxy-server", GOOD)),
    "absolute": _tar_gz(_file("/usr/local/bin/toxiproxy-server", GOOD)),
    "bad": _tar_gz(_file("toxiproxy-server", GOOD + b"# not the release\n")),
    "older": _tar_gz(_file("toxiproxy-server", OLDER)),
    "no-server": _tar_gz(),
    "symlink": _tar_gz(_link("toxiproxy-server", tarfile.SYMTYPE, "toxiproxy-cli")),
    "hardlink": _tar_gz(_link("toxiproxy-server", tarfile.LNKTYPE, "toxiproxy-cli")),
    "folder": _tar_gz(_link("toxiproxy-server", tarfile.DIRTYPE, "")),
    "too-big": _claims_size("toxiproxy-server", TOO_BIG),
    "not-gzip": b"<html>a captive portal</html>",
}


class _FakeReleases(http.server.BaseHTTPRequestHandler):
    """/KIND/ serves ARCHIVES[KIND] under the release's archive name; /truncated/ a third of the good one,
    then closes."""

    def do_GET(self) -> None:
        kind, _, asset = self.path.lstrip("/").partition("/")
        body = ARCHIVES.get("good" if kind == "truncated" else kind)
        if asset != ARCHIVE or body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if kind == "truncated" else body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def releases() -> Iterator[str]:
    """The fake releases' URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeReleases)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TOXIPROXY_SERVER", raising=False)


def _pin(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The SHA-256 of ARCHIVES[kind] pinned for this platform, in place of the release's."""
    monkeypatch.setitem(pinned.PINNED_SHA256, platform_key(), hashlib.sha256(ARCHIVES[kind]).hexdigest())


def _executable(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(0o755)
    return path


def _tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("kind", ["good", "nested", "climbing", "absolute"])
def test_the_server_of_an_archive_whose_checksum_is_the_pinned_one_is_installed_once(
    releases: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _pin(monkeypatch, kind)
    folder = tmp_path / "deep" / "bin"
    binary, installed = install(folder, from_source=False, releases_url=f"{releases}/{kind}")
    assert installed
    assert binary == folder / "toxiproxy-server"
    assert binary.read_bytes() == GOOD
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    assert binary.stat().st_uid == os.getuid() != STRANGER
    assert version_of(binary) == TOXIPROXY_VERSION
    assert _tree(tmp_path) == ["deep", "deep/bin", "deep/bin/toxiproxy-server"]
    assert install(folder, from_source=False, releases_url=f"{releases}/bad") == (binary, False)


@pytest.mark.parametrize(
    ("kind", "pinned_kind", "message"),
    [
        ("bad", "good", "sent a file whose SHA-256 is [0-9a-f]{64}, not the pinned [0-9a-f]{64}: nothing installed"),
        ("missing", "good", "answered HTTP 404: nothing installed"),
        ("truncated", "good", "failed \\(RemoteProtocolError: .*\\): nothing installed"),
        ("no-server", "no-server", "holds no toxiproxy-server: nothing installed"),
        ("symlink", "symlink", "holds a toxiproxy-server that is not a regular file .*: nothing installed"),
        ("hardlink", "hardlink", "holds a toxiproxy-server that is not a regular file .*: nothing installed"),
        ("folder", "folder", "holds a toxiproxy-server that is not a regular file .*: nothing installed"),
        ("too-big", "too-big", f"holds a toxiproxy-server of {TOO_BIG} bytes, more than {TOO_BIG - 1}: nothing"),
        ("not-gzip", "not-gzip", "is not a readable .tar.gz \\(ReadError: .*\\): nothing installed"),
        ("older", "older", "says version '2.11.0' instead of '2.12.0' .*: nothing installed"),
    ],
)
def test_an_archive_that_is_not_the_pinned_release_is_refused_in_one_line_leaving_the_old_binary(
    releases: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, pinned_kind: str, message: str
) -> None:
    _pin(monkeypatch, pinned_kind)
    folder = tmp_path / "bin"
    older = _executable(folder / "toxiproxy-server", OLDER)
    with pytest.raises(EnvironmentProblem, match=message) as refused:
        install(folder, from_source=False, releases_url=f"{releases}/{kind}")
    assert "\n" not in str(refused.value)
    assert _tree(folder) == ["toxiproxy-server"]
    assert older.read_bytes() == OLDER


def test_a_refused_download_is_one_line_on_stderr_and_exit_2(releases: str, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    command = ["install-toxiproxy", "--dest", str(folder), "--releases-url", f"{releases}/missing"]
    result = subprocess.run([sys.executable, "-m", "harness.cli", *command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{ARCHIVE}' answered HTTP 404: nothing installed" in result.stderr
    assert _tree(folder) == []


def test_a_platform_with_no_pinned_checksum_is_refused_with_the_fix_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(pinned.PINNED_SHA256, platform_key())
    folder = tmp_path / "bin"
    with pytest.raises(Missing) as missing:
        install(folder, from_source=False, releases_url="http://127.0.0.1:9/unreachable")
    assert missing.value.what == (
        f"no SHA-256 of toxiproxy {TOXIPROXY_VERSION}'s archive is pinned for {platform_key()}, so no download is"
        " trusted"
    )
    assert missing.value.fix == FROM_SOURCE_HINT
    assert _tree(folder) == []


def test_a_python_without_tarfile_filters_opens_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tarfile, "data_filter")
    folder = tmp_path / "bin"
    with pytest.raises(Missing, match=r"tarfile has no extraction filters .*: use Python 3\.11\.4 or newer, or run"):
        install(folder, from_source=False, releases_url="http://127.0.0.1:9/unreachable")
    assert _tree(folder) == []


def test_the_releases_url_must_be_http(tmp_path: Path) -> None:
    command = ["install-toxiproxy", "--releases-url", "file:///etc", "--dest", str(tmp_path)]
    result = subprocess.run([sys.executable, "-m", "harness.cli", *command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--releases-url must be an http(s) URL, not 'file:///etc'" in result.stderr


def test_the_url_of_a_release_is_its_archive_for_the_version_and_the_platform() -> None:
    assert release_url("https://mirror.example/releases/", "linux-arm64") == (
        f"https://mirror.example/releases/v{TOXIPROXY_VERSION}/toxiproxy_{TOXIPROXY_VERSION}_linux_arm64.tar.gz"
    )


@pytest.mark.parametrize(
    ("system", "machine", "hint"),
    [
        ("Linux", "x86_64", "run `sse-chaos install-toxiproxy`"),
        ("Linux", "aarch64", "run `sse-chaos install-toxiproxy`"),
        ("Darwin", "x86_64", "run `sse-chaos install-toxiproxy`"),
        ("Darwin", "arm64", "run `sse-chaos install-toxiproxy`"),
        ("Linux", "armv7l", FROM_SOURCE_HINT),
        ("FreeBSD", "amd64", FROM_SOURCE_HINT),
    ],
)
def test_the_hint_is_the_download_on_the_four_pinned_platforms_else_the_build(
    monkeypatch: pytest.MonkeyPatch, system: str, machine: str, hint: str
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert install_hint() == hint


@pytest.mark.parametrize(
    ("system", "machine", "key"),
    [("Linux", "x86_64", "linux-amd64"), ("Linux", "aarch64", "linux-arm64"), ("Darwin", "arm64", "darwin-arm64")],
)
def test_the_platform_is_named_as_the_release_names_it(system: str, machine: str, key: str) -> None:
    assert platform_key(system, machine) == key


FAKE_GO = """#!/bin/sh
# Records how it was called, then "builds" the server into $GOBIN.
{{ echo "CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS"; printf '%s\n' "$@"; }} > "{record}"
echo "go: downloading github.com/Shopify/toxiproxy/v2 v{version}"
printf '#!/bin/sh\\necho "toxiproxy-server version {said}"\\n' > "$GOBIN/server"
chmod +x "$GOBIN/server"
"""


def _fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: str) -> Path:
    record = tmp_path / "go-called"
    _executable(
        tmp_path / "go-bin" / "go", FAKE_GO.format(record=record, version=TOXIPROXY_VERSION, said=said).encode()
    )
    monkeypatch.setenv("PATH", str(tmp_path / "go-bin") + ":/usr/bin:/bin")
    return record


def test_from_source_builds_the_pinned_module_with_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _fake_go(tmp_path, monkeypatch, said=TOXIPROXY_VERSION)
    folder = tmp_path / "bin"
    folder.mkdir()
    binary = build_from_source(folder)
    assert version_of(binary) == TOXIPROXY_VERSION
    assert [path.name for path in folder.iterdir()] == ["toxiproxy-server"]
    assert record.read_text().splitlines() == [
        "CGO_ENABLED=0 GOFLAGS=-mod=mod", "install", "-ldflags",
        f"-X github.com/Shopify/toxiproxy/v2.Version={TOXIPROXY_VERSION}",
        f"github.com/Shopify/toxiproxy/v2/cmd/server@v{TOXIPROXY_VERSION}",
    ]  # fmt: skip


def test_a_build_that_says_another_version_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_go(tmp_path, monkeypatch, said="2.11.0")
    folder = tmp_path / "bin"
    folder.mkdir()
    with pytest.raises(EnvironmentProblem, match=r"says version '2.11.0' instead of '2.12.0'"):
        build_from_source(folder)
    assert not any(folder.iterdir())


def test_a_failed_build_says_go_s_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _executable(tmp_path / "go-bin" / "go", b'#!/bin/sh\necho "go: downloading x"\necho "go: no network" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "go-bin"))
    folder = tmp_path / "bin"
    folder.mkdir()
    with pytest.raises(EnvironmentProblem, match=r"^go install failed \(exit 1\): go: no network$"):
        build_from_source(folder)
    assert not any(folder.iterdir())


def test_from_source_without_go_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Missing, match=r"install Go 1\.23 or newer"):
        build_from_source(tmp_path)


def test_the_binary_is_looked_up_in_the_variable_then_path_then_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    cached = _executable(cache_folder() / "toxiproxy-server", GOOD)
    assert cached.is_relative_to(tmp_path / "cache" / "sse-chaos")
    assert (locate().path, locate().where) == (cached, "the user cache")
    on_path = _executable(tmp_path / "path" / "toxiproxy-server", GOOD)
    assert (locate().path, locate().where) == (on_path, "PATH")
    configured = _executable(tmp_path / "elsewhere" / "toxiproxy-server", GOOD)
    monkeypatch.setenv("TOXIPROXY_SERVER", str(configured))
    assert (locate().path, locate().where) == (configured, "$TOXIPROXY_SERVER")


def test_a_variable_naming_no_binary_is_an_error_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _executable(tmp_path / "path" / "toxiproxy-server", GOOD)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setenv("TOXIPROXY_SERVER", str(tmp_path / "absent"))
    with pytest.raises(Missing, match=r"^TOXIPROXY_SERVER='.*absent' is not an executable file: point it at"):
        locate()


def test_no_binary_anywhere_says_where_it_looked_and_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Missing) as missing:
        locate()
    assert missing.value.what == f"toxiproxy-server not found ($TOXIPROXY_SERVER, PATH, {cache_folder()})"
    assert "sse-chaos install-toxiproxy" in missing.value.fix
    assert missing.value.fix.endswith("or set TOXIPROXY_SERVER or TOXIPROXY_URL")


@pytest.mark.parametrize(
    "body",
    [
        b'#!/bin/sh\necho "toxiproxy-server version 2.11.0"\n',
        b"#!/bin/sh\nexit 3\n",
        b'#!/bin/sh\necho "something else 2.12.0"\n',
        b"not a program",
    ],
)
def test_a_binary_that_does_not_say_the_pinned_version_is_not_it(tmp_path: Path, body: bytes) -> None:
    assert version_of(_executable(tmp_path / "toxiproxy-server", body)) != TOXIPROXY_VERSION
