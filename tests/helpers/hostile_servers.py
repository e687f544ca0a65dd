"""Hostile SSE servers: each kind misbehaves in one way, for as long as the client stays.

Most kinds first send the contract's response head (the headers the harness plans against,
with the timings in `Advertised`), then turn hostile. `hostile_server(kind)` serves one kind
on a free port of 127.0.0.1 and stops every connection it started when its block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

_REQUEST_HEAD_SECONDS = 5.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Advertised:
    """The timings the contract's headers advertise, in seconds (the fast profile's by default)."""

    heartbeat: float = 0.25
    silence: float = 1.0
    cap: float = 6.0


def contract_head(advertised: Advertised, content_type: str = "text/event-stream", extra: str = "") -> bytes:
    """A 200 response head with every header the contract requires; `extra` adds header lines."""
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
        f"X-Trace-ID: {'e' * 32}\r\nX-Stream-ID: {'f' * 16}\r\nX-Heartbeat-Interval: {advertised.heartbeat:g}\r\n"
        f"X-Silence-Threshold: {advertised.silence:g}\r\nX-Stream-Max-Seconds: {advertised.cap:g}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    ).encode()


Behaviour = Callable[[asyncio.StreamWriter, Advertised], Awaitable[None]]


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def _endless(writer: asyncio.StreamWriter, head: bytes, piece: Callable[[], bytes]) -> None:
    await _send(writer, head)
    while True:
        await _send(writer, piece())
        await asyncio.sleep(0)  # drain() does not yield while the buffer has room: the client shares this loop


async def endless_line(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """One `data:` line that never ends."""
    await _endless(writer, contract_head(advertised) + b"data: ", lambda: b"x" * _CHUNK)


async def huge_event(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """One 50 MB event: short data lines, no blank line among them."""
    await _send(writer, contract_head(advertised))
    line = b"data: " + b"x" * 1000 + b"\n"
    for _ in range(50_000):
        await _send(writer, line)


async def random_bytes(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """Endless random bytes (seeded: every run the same)."""
    source = random.Random(14)
    await _endless(writer, contract_head(advertised), lambda: source.randbytes(_CHUNK))


async def endless_events(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """Valid heartbeat events as fast as the client reads them, and never a terminal event."""
    batch = b'event: heartbeat\ndata: {"seq": 0}\n\n' * 2000
    await _endless(writer, contract_head(advertised), lambda: batch)


async def fat_comments(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """Comment lines of half a megabyte each, under the line bound: a flood of text, and of
    characters that take four bytes in memory too."""
    comment = b": " + "\N{SLIGHTLY SMILING FACE}".encode() * (128 * 1024) + b"\n"
    await _endless(writer, contract_head(advertised), lambda: comment)


async def wrong_content_type(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    await _send(writer, contract_head(advertised, "text/html") + b"<html>not a stream</html>")


async def server_error(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    await _send(writer, b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


async def endless_headers(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """The contract's headers, then header lines without end."""
    head = contract_head(advertised).removesuffix(b"\r\n")
    await _endless(writer, head, lambda: b"X-Pad: " + b"y" * 100 + b"\r\n")


async def silence(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """The contract's headers, then not a byte."""
    await _send(writer, contract_head(advertised))
    await asyncio.Event().wait()


async def no_response(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """The request is read; no response ever comes."""
    await asyncio.Event().wait()


async def trickle(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """Valid events, one byte at a time, each within the silence threshold of the one before."""
    await _send(writer, contract_head(advertised))
    while True:
        for byte in b'event: heartbeat\ndata: {"seq": 0}\n\n':
            await _send(writer, bytes([byte]))
            await asyncio.sleep(advertised.silence / 2)


async def redirect_loop(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """A redirect to the very same URL, every time."""
    await _send(
        writer,
        b"HTTP/1.1 302 Found\r\nLocation: /stream/search\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )


async def gzip_bomb(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """A gzip body (whatever the request accepted) of zeros without end: a megabyte of them per
    4.5 KB sent, for a client that would inflate it."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    head = contract_head(advertised, extra="Content-Encoding: gzip\r\n")
    await _endless(writer, head, lambda: deflate.compress(zeros) + deflate.flush(zlib.Z_SYNC_FLUSH))


async def broken_chunked(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    """A chunked body whose second chunk size is not hexadecimal."""
    head = contract_head(advertised, extra="Transfer-Encoding: chunked\r\n")
    ping = b": ping\n\n"
    await _send(writer, head + b"%x\r\n%s\r\nzz\r\nnot a chunk\r\n" % (len(ping), ping))


async def close_after_headers(writer: asyncio.StreamWriter, advertised: Advertised) -> None:
    await _send(writer, contract_head(advertised))


KINDS: dict[str, Behaviour] = {
    "endless-line": endless_line,
    "huge-event": huge_event,
    "random-bytes": random_bytes,
    "endless-events": endless_events,
    "fat-comments": fat_comments,
    "wrong-content-type": wrong_content_type,
    "server-error": server_error,
    "endless-headers": endless_headers,
    "silence": silence,
    "no-response": no_response,
    "trickle": trickle,
    "redirect-loop": redirect_loop,
    "gzip-bomb": gzip_bomb,
    "broken-chunked": broken_chunked,
    "close-after-headers": close_after_headers,
}


@contextlib.asynccontextmanager
async def hostile_server(kind: str, advertised: Advertised | None = None) -> AsyncIterator[str]:
    """The stream URL of a server of `kind` on a free port; when the block ends, the server and
    every connection it still serves are stopped."""
    behaviour, timings = KINDS[kind], advertised or Advertised()
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            async with asyncio.timeout(_REQUEST_HEAD_SECONDS):
                await reader.readuntil(b"\r\n\r\n")
            await behaviour(writer, timings)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went, or never sent a request
        except asyncio.CancelledError:
            pass  # stopped with the server; asyncio 3.11 would log a cancelled handler as an error
        finally:
            handlers.discard(task)
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/stream/search"
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
