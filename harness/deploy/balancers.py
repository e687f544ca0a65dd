"""Real reverse proxies in front of reference-server instances, run as the current user on a free
port with their files in a directory of their own, always stopped: HAProxy round-robining
instances with health checks, configured for SSE; nginx with `proxy_buffering on`, the proxy that
holds a stream back unless the server says `X-Accel-Buffering: no`."""

from __future__ import annotations

import asyncio
import getpass
import grp
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from harness.embedded import last_line
from harness.errors import EnvironmentProblem
from harness.processes import stop_process
from harness.toxiproxy.server import free_port
from reference_server.open_files import OpenFileLimit, raise_open_file_limit

_SBIN = ("/usr/sbin", "/usr/local/sbin")  # Debian puts both here, off a normal user's PATH
_READY_DEADLINE_SECONDS = 10.0
_POLL_SECONDS = 0.05
# The balancer checks each instance this often; two failures take it out, one success brings it back.
HEALTH_CHECK_MS = 200


def find_program(name: str) -> str:
    """The installed program's path; an EnvironmentProblem names what to do when there is none."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if found is None:
        raise EnvironmentProblem(f"{name} is not installed: scripts/setup installs it (apt-get install {name})")
    return found


def stream_timeout(cap_seconds: float) -> int:
    """How long a proxy lets a stream run: well above the cap, which ends every stream."""
    return int(2 * cap_seconds + 30)


def haproxy_config(
    host: str, port: int, instances: Sequence[tuple[str, int]], cap_seconds: float, open_files: OpenFileLimit
) -> str:
    """Round robin over `instances` (id, port), health from `/healthz` (a draining instance says
    so and is taken out). For SSE: no Nagle delay, stream timeouts above the cap, a request that
    cannot connect (a dead or draining instance, which has closed its socket) tried on another,
    and as many streams as its `open_files` limit allows (two descriptors each: client and server)."""
    timeout = stream_timeout(cap_seconds)
    servers = "\n".join(f"    server {name} 127.0.0.1:{server_port}" for name, server_port in instances)
    return f"""global
    maxconn {open_files.connections(2)}

defaults
    mode http
    option http-server-close
    option http-no-delay
    option redispatch
    retries 3
    timeout connect 1s
    timeout check 300ms
    timeout client {timeout}s
    timeout server {timeout}s
    timeout tunnel {timeout}s

frontend streams
    bind {host}:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /healthz
    http-check expect rstring status\\W+ok
    default-server check inter {HEALTH_CHECK_MS}ms fall 2 rise 1
{servers}
"""


def nginx_config(directory: Path, port: int, upstream_port: int, cap_seconds: float) -> str:
    """A reverse proxy that buffers responses (`proxy_buffering on` and HTTP/1.0 to the server,
    nginx's defaults, stated or kept) unless the response says `X-Accel-Buffering: no`, a header it
    passes on so that clients see what the server said; every file it writes stays in `directory`."""
    timeout = stream_timeout(cap_seconds)
    user = f"user {getpass.getuser()} {grp.getgrgid(os.getgid()).gr_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_buffering on;
            proxy_pass_header X-Accel-Buffering;
            proxy_read_timeout {timeout}s;
            proxy_send_timeout {timeout}s;
        }}
    }}
}}
"""


@asynccontextmanager
async def haproxy(
    instances: Sequence[tuple[str, int]], cap_seconds: float, directory: Path, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """HAProxy on `host`:`port` (0: a free one) in front of `instances` (id, port): its base URL
    once it answers `/healthz`."""
    binary = find_program("haproxy")
    port = port or free_port(host)
    config = directory / "haproxy.cfg"
    # HAProxy inherits this process's limit, raised first.
    config.write_text(haproxy_config(host, port, instances, cap_seconds, raise_open_file_limit()))
    command = [binary, "-db", "-f", str(config)]
    async with _proxy_process("haproxy", command, host, port, directory / "haproxy.log") as url:
        yield url


@asynccontextmanager
async def buffering_nginx(upstream_port: int, cap_seconds: float, directory: Path) -> AsyncIterator[str]:
    """nginx with `proxy_buffering on` in front of the server on `upstream_port`: its base URL."""
    binary = find_program("nginx")
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory, port, upstream_port, cap_seconds))
    command = [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log"), "-g", "daemon off;"]
    async with _proxy_process("nginx", command, "127.0.0.1", port, directory / "nginx.log") as url:
        yield url


@asynccontextmanager
async def _proxy_process(name: str, command: list[str], host: str, port: int, log_path: Path) -> AsyncIterator[str]:
    """Run `command` until the block ends; yield its URL once `/healthz` answers 200 through it."""
    url = f"http://{host}:{port}"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        await _wait_answering(name, process, url, log_path)
        yield url
    finally:
        await stop_process(process)


async def _wait_answering(name: str, process: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        try:
            async with asyncio.timeout(_READY_DEADLINE_SECONDS):
                while True:
                    if await _answers(http, url):
                        return
                    if process.returncode is not None:
                        raise EnvironmentProblem(
                            f"{name} exited at start ({process.returncode}): {last_line(log_path)}"
                        )
                    await asyncio.sleep(_POLL_SECONDS)
        except TimeoutError:
            raise EnvironmentProblem(f"{name} did not answer within {_READY_DEADLINE_SECONDS:g} s") from None


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/healthz", timeout=1.0)).status_code == 200
    except httpx.HTTPError:
        return False
