"""Run the reference server under Hypercorn with graceful, bounded shutdown."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

import uvloop
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from reference_server.app import create_app
from reference_server.collector import quiet_collector
from reference_server.config import ConfigError, ServerConfig
from reference_server.logs import configure_logging
from reference_server.open_files import raise_open_file_limit
from reference_server.streams import StreamRegistry

_BACKLOG = 2048
log = logging.getLogger("reference_server")


def bind_socket(host: str, port: int, user_timeout_seconds: float, send_buffer_bytes: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one. Accepted sockets inherit the user
    timeout and the send buffer size (which turns off its growth to megabytes per socket).

    It listens before the server is announced, so a client that connects at once waits in the
    backlog instead of being refused while Hypercorn starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        # Drops peers that stop acknowledging data; Hypercorn itself has no write timeout.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout_seconds * 1000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
    sock.bind((host, port))
    sock.listen(_BACKLOG)
    return sock


async def serve(
    config: ServerConfig,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT), then drain open streams and return."""
    app = create_app(config)
    registry: StreamRegistry = app.config["SSE_REGISTRY"]
    stop = stop or _stop_on_signals()
    sock = bind_socket(host, port, max(10.0, 2 * config.silence_threshold), config.send_buffer_bytes)
    bound_host, bound_port = sock.getsockname()[:2]
    hyper = HypercornConfig()
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.backlog = _BACKLOG
    hyper.read_timeout = None  # an SSE client sends nothing; a read timeout would cut it
    hyper.accesslog = None
    hyper.errorlog = None
    hyper.graceful_timeout = 0.5

    async def shutdown_trigger() -> None:
        await stop.wait()
        await registry.drain(config.drain_seconds)

    server = asyncio.create_task(hypercorn_serve(app, hyper, shutdown_trigger=shutdown_trigger))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    on_ready(_url(bound_host, bound_port))
    try:
        await server
    finally:
        await registry.close()


def warn_of_open_file_limit(max_streams: int) -> None:
    """Raise the open-file limit; one warning line when it stays below what MAX_STREAMS needs."""
    warning = raise_open_file_limit().shortfall(max_streams, f"MAX_STREAMS={max_streams:,} streams")
    if warning is not None:
        log.warning(warning)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def announce(url: str) -> None:
    print(f"listening on {url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    return run(args.host, args.port, args.log_level)


def run(host: str, port: int, log_level: str) -> int:
    try:
        config = ServerConfig.from_env(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(log_level)
    warn_of_open_file_limit(config.max_streams)
    if config.defect is not None:
        fields = {"defect": config.defect.name, "breaks": config.defect.breaks}
        log.warning("running with a seeded defect", extra={"fields": fields})
    try:
        quiet_collector()
        uvloop.run(serve(config, host, port, announce))
    except OSError as error:
        print(f"error: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 2
    return 0
