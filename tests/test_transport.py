"""The harness's httpx transport on plain asyncio, and the collector pause around timed work."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest

from harness.transport import new_http_client
from reference_server import collector
from reference_server.collector import collect_if_overdue, collector_paused
from tests.helpers.raw_server import raw_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_a_refused_connection_is_an_httpx_connect_error() -> None:
    async with new_http_client() as http:
        with pytest.raises(httpx.ConnectError, match=r"refused|Connect call failed"):
            await http.get(f"http://127.0.0.1:{free_port()}/")


@pytest.mark.asyncio
async def test_reads_have_no_deadline_of_their_own_unless_asked() -> None:
    async def silent(_n: int, _headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        await asyncio.sleep(5)

    async with raw_server(silent) as url, new_http_client() as http:
        async with http.stream("GET", url) as response:
            chunks = response.aiter_raw()
            with pytest.raises(TimeoutError):  # the caller's own deadline is what ends a silent read
                async with asyncio.timeout(0.2):
                    await anext(chunks)
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url, timeout=httpx.Timeout(1.0, read=0.1))


@pytest.mark.asyncio
async def test_a_cut_mid_body_is_an_httpx_error_and_the_bytes_before_it_arrive() -> None:
    async def cut(_n: int, _headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
        await writer.drain()

    received: list[bytes] = []

    async def read_all(http: httpx.AsyncClient, url: str) -> None:
        async with http.stream("GET", url) as response:
            async for chunk in response.aiter_raw():
                received.append(chunk)

    async with raw_server(cut) as url, new_http_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await read_all(http, url)
    assert b"".join(received) == b"first"


async def _held_open(_n: int, _headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: open\n\n")
    await writer.drain()
    await asyncio.sleep(30)


@pytest.mark.asyncio
async def test_opening_a_stream_looks_at_no_other_open_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore's pool walked every connection on each request: O(N^2) for N clients connecting."""
    looked_at: list[int] = []  # id() of each connection asked about its state
    for name in ("is_closed", "has_expired", "is_idle", "is_available", "can_handle_request"):
        original = getattr(httpcore.AsyncHTTPConnection, name)

        def counted(self: object, *args: object, _original: object = original) -> object:
            looked_at.append(id(self))
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(httpcore.AsyncHTTPConnection, name, counted)
    async with raw_server(_held_open) as url, new_http_client() as http, contextlib.AsyncExitStack() as streams:
        for _ in range(20):
            await streams.enter_async_context(http.stream("GET", url))
        open_before = set(looked_at)
        looked_at.clear()
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
    assert len(open_before) == 20
    assert open_before.isdisjoint(looked_at)


@asynccontextmanager
async def server_noting_closes(head: bytes) -> AsyncIterator[tuple[str, list[tuple[str, int]], asyncio.Queue[int]]]:
    """Answers every request with `head`, then waits for the client to close: the URL, each
    connection's client address, and the numbers of the connections the client closed."""
    peers: list[tuple[str, int]] = []
    closed: asyncio.Queue[int] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(peers)
        peers.append(writer.get_extra_info("peername"))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head)
        await writer.drain()
        await reader.read()  # b"" once the client closes
        closed.put_nowait(number)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", peers, closed
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_each_request_has_a_connection_of_its_own_closed_with_its_response() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with server_noting_closes(answer) as (url, peers, closed), new_http_client() as http:
        assert (await http.get(url)).text == "ok"
        async with asyncio.timeout(5):
            assert await closed.get() == 0  # closed with its response: nothing kept alive
        assert (await http.get(url)).text == "ok"
        async with asyncio.timeout(5):
            assert await closed.get() == 1
    assert len(peers) == 2
    assert peers[0] != peers[1]


@pytest.mark.asyncio
async def test_closing_the_client_closes_the_streams_it_left_open() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    async with server_noting_closes(head) as (url, _peers, closed):
        http = new_http_client()
        response = await http.send(http.build_request("GET", url), stream=True)
        assert response.status_code == 200
        assert closed.empty()
        await http.aclose()
        async with asyncio.timeout(5):
            assert await closed.get() == 0


def test_the_collector_stays_paused_until_the_last_overlapping_section_ends() -> None:
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_an_overdue_collection_runs_while_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    monkeypatch.setattr(collector, "PAUSED_BACKSTOP_OBJECTS", 100)
    with collector_paused():
        gc.collect()
        freed: list[int] = []
        gc.callbacks.append(lambda phase, info: freed.append(info["collected"]) if phase == "stop" else None)
        try:
            for _ in range(50):
                Cycle()
            collect_if_overdue()
            assert freed == []  # 50 objects: not overdue
            for _ in range(200):
                Cycle()
            collect_if_overdue()
        finally:
            gc.callbacks.pop()
    assert sum(freed) >= 200
