"""R2-R4: abrupt disconnects leave nothing behind, a client that stops reading is dropped,
and shutdown with hundreds of open streams is clean and quick."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import struct
from pathlib import Path

import httpx
import pytest

from harness.embedded import EmbeddedServer
from tests.helpers.raw_http import request
from tests.helpers.servers import ServerFactory
from tests.helpers.streaming import metric, read_stream, wait_for_metric

LONG = b"/stream/search?query=a+long+answer&max_tokens=4096"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def connect(server: EmbeddedServer, receive_buffer: int | None = None) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return sock


async def abrupt_client(server: EmbeddedServer, rng: random.Random) -> None:
    """Connect, send all or part of a request, read a random amount, then vanish (RST or FIN)."""
    loop = asyncio.get_running_loop()
    sock = await connect(server)
    try:
        raw = request(LONG)
        await loop.sock_sendall(sock, raw if rng.random() < 0.8 else raw[: rng.randrange(1, len(raw))])
        wanted = rng.choice([0, 1, 200, 600, 3000, 20_000])
        got = 0
        async with asyncio.timeout(1):
            while got < wanted:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    break
                got += len(chunk)
    except TimeoutError:
        pass
    finally:
        if rng.random() < 0.5:  # RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


@pytest.mark.asyncio
async def test_hundreds_of_abrupt_disconnects_leave_no_stream_or_task(start_server: ServerFactory) -> None:
    async with start_server(stream_resume_ttl=0.5) as server, httpx.AsyncClient() as http:
        idle_tasks = await metric(server, "sse_event_loop_tasks", http)
        rng = random.Random(7)
        for _batch in range(3):
            await asyncio.gather(*(abrupt_client(server, rng) for _ in range(100)))
        assert await metric(server, "sse_streams_started_total", http) > 100
        await wait_for_metric(server, "sse_open_connections", 0, deadline=10, http=http)
        await wait_for_metric(server, "sse_logical_streams", 0, deadline=10, http=http)
        # closed connections linger for Hypercorn's 5 s keep-alive timeout, then nothing is left
        await wait_for_metric(server, "sse_event_loop_tasks", idle_tasks, deadline=15, http=http)


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_is_dropped_with_bounded_memory(start_server: ServerFactory) -> None:
    # A small kernel send buffer so the server's sends block within one answer's bytes.
    async with start_server(send_timeout=0.5, chunk_delay_ms=0.2, send_buffer_bytes=4096) as server:
        before = rss_bytes(server.process.pid)
        sock = await connect(server, receive_buffer=4096)
        try:
            await asyncio.get_running_loop().sock_sendall(sock, request(LONG))
            await wait_for_metric(server, "sse_slow_readers_dropped_total", 1, deadline=20)
            await wait_for_metric(server, "sse_open_connections", 0)
            growth = rss_bytes(server.process.pid) - before
        finally:
            sock.close()
    assert growth < 20 * 1024 * 1024


@pytest.mark.asyncio
async def test_shutdown_with_hundreds_of_open_streams_is_clean_and_quick(start_server: ServerFactory) -> None:
    async with start_server() as server:
        url = f"{server.base_url}/stream/search"
        params = {"query": "a long answer", "max_tokens": "4096"}
        readers = [asyncio.create_task(read_stream(url, params, deadline=30)) for _ in range(300)]
        await wait_for_metric(server, "sse_open_connections", 300, deadline=30)
        started = asyncio.get_running_loop().time()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.process.wait(), 5)
        exit_seconds = asyncio.get_running_loop().time() - started
        received = await asyncio.gather(*readers)
    assert server.process.returncode == 0
    assert exit_seconds < 5
    endings = {r.of("error")[-1]["code"] if r.kinds[-1] == "error" else r.kinds[-1] for r in received}
    assert endings == {"shutting_down"}
