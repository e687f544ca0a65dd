"""A raw HTTP/1.1 server whose every connection a test scripts, byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Handler = Callable[[int, dict[str, str], asyncio.StreamWriter], Awaitable[None]]
SSE_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nX-Trace-ID: t-1\r\nConnection: close\r\n\r\n"


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """An HTTP/1.1 server whose every connection is answered by `handler(n, headers, writer)`."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head if line)}
        number, connections = connections, connections + 1
        try:
            await handler(number, headers, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/sse"
    finally:
        server.close()
        await server.wait_closed()


def scripted(*bodies: bytes) -> Handler:
    """Answers connection n with an event stream whose body is `bodies[n]` (the last one for
    every later connection), then closes."""

    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode() + bodies[min(number, len(bodies) - 1)])
        await writer.drain()

    return handler


async def unavailable_on_resume(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
    """One event, then a cut; the two resumes after it get 503 (a draining instance, a store
    down), the third the stream's end."""
    if number in (1, 2):
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
    else:
        body = b"id: s:0\ndata: {}\n\n" if number == 0 else b"id: s:1\nevent: complete\ndata: {}\n\n"
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode() + body)
    await writer.drain()
