"""The harness's httpx transport on plain asyncio, and the collector pause around timed work."""

from __future__ import annotations

import asyncio
import gc
import socket

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
