"""`sse-chaos install-toxiproxy` and the binary's lookup: a fake release on a local HTTP server (good
checksum, bad checksum, 404, truncated body), a fake Go, and the lookup's order."""

from __future__ import annotations

import hashlib
import http.server
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import EnvironmentProblem, Missing
from harness.toxiproxy import binary as pinned
from harness.toxiproxy.binary import TOXIPROXY_VERSION, cache_folder, locate, platform_key, version_of
from harness.toxiproxy.install import build_from_source, install, release_url

GOOD = f'#!/bin/sh\necho "toxiproxy-server version {TOXIPROXY_VERSION}"\n'.encode()
OLDER = b'#!/bin/sh\necho "toxiproxy-server version 2.11.0"\n'
ASSET = f"v{TOXIPROXY_VERSION}/toxiproxy-server-{platform_key()}"


class _FakeReleases(http.server.BaseHTTPRequestHandler):
    """/good/ serves the pinned file, /bad/ another one, /truncated/ a third of it then closes."""

    def do_GET(self) -> None:
        kind, _, asset = self.path.lstrip("/").partition("/")
        if asset != ASSET or kind not in ("good", "bad", "truncated"):
            self.send_error(404)
            return
        body = GOOD if kind != "bad" else GOOD.replace(b"echo", b"echo ")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if kind == "truncated" else body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def releases(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake release's URL, its file's SHA-256 pinned for this platform."""
    monkeypatch.setitem(pinned.PINNED_SHA256, platform_key(), hashlib.sha256(GOOD).hexdigest())
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


def _executable(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(0o755)
    return path


def test_a_release_whose_checksum_is_the_pinned_one_is_installed_once(releases: str, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    binary, installed = install(folder, from_source=False, releases_url=f"{releases}/good")
    assert installed
    assert binary == folder / "toxiproxy-server"
    assert binary.read_bytes() == GOOD
    assert binary.stat().st_mode & stat.S_IXUSR
    assert version_of(binary) == TOXIPROXY_VERSION
    assert [path.name for path in folder.iterdir()] == ["toxiproxy-server"]
    assert install(folder, from_source=False, releases_url=f"{releases}/bad") == (binary, False)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bad", "whose SHA-256 is .*, not the pinned"),
        ("missing", "answered HTTP 404: nothing installed"),
        ("truncated", "failed \\(RemoteProtocolError: .*\\): nothing installed"),
    ],
)
def test_a_release_that_is_not_the_pinned_one_leaves_nothing_behind(
    releases: str, tmp_path: Path, kind: str, message: str
) -> None:
    folder = tmp_path / "bin"
    older = _executable(folder / "toxiproxy-server", OLDER)
    with pytest.raises(EnvironmentProblem, match=message):
        install(folder, from_source=False, releases_url=f"{releases}/{kind}")
    assert [path.name for path in folder.iterdir()] == ["toxiproxy-server"]
    assert older.read_bytes() == OLDER


def test_a_platform_with_no_pinned_checksum_is_refused_in_one_line_with_the_fix(tmp_path: Path) -> None:
    if platform_key() in pinned.PINNED_SHA256:
        pytest.skip(f"a checksum is pinned for {platform_key()}")
    folder = tmp_path / "bin"
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "install-toxiproxy", "--dest", str(folder)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"no SHA-256 of toxiproxy-server {TOXIPROXY_VERSION} is pinned for {platform_key()}" in result.stderr
    assert "sse-chaos install-toxiproxy --from-source" in result.stderr
    assert not any(folder.iterdir())


def test_the_releases_url_must_be_http(tmp_path: Path) -> None:
    command = ["install-toxiproxy", "--releases-url", "file:///etc", "--dest", str(tmp_path)]
    result = subprocess.run([sys.executable, "-m", "harness.cli", *command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--releases-url must be an http(s) URL, not 'file:///etc'" in result.stderr


def test_the_url_of_a_release_names_the_version_and_the_platform() -> None:
    assert release_url("https://mirror.example/releases/", "linux-arm64") == (
        f"https://mirror.example/releases/v{TOXIPROXY_VERSION}/toxiproxy-server-linux-arm64"
    )


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
