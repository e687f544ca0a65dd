"""A deliberately broken SSE server: resumes at SEQ instead of SEQ+1 and never heartbeats."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

STREAM = "00000000000000ab"
TRACE = "b" * 32
CHUNKS = 10
FIRST_CONNECTION_CHUNKS = 5
HEAD = (
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\nX-Trace-ID: {trace}\r\nX-Stream-ID: {stream}\r\nX-Stream-Max-Seconds: 30\r\n"
    "X-Heartbeat-Interval: 0.1\r\nX-Silence-Threshold: 1\r\nConnection: close\r\n\r\n"
)


def _event(seq: int) -> bytes:
    data = {"stream_id": STREAM, "trace_id": TRACE, "seq": seq, "content": f" w{seq}", "tokens": 1}
    return f"id: {STREAM}:{seq}\nevent: content_chunk\ndata: {json.dumps(data)}\n\n".encode()


def _complete() -> bytes:
    answer = "".join(f" w{seq}" for seq in range(CHUNKS))
    data = {
        "stream_id": STREAM,
        "trace_id": TRACE,
        "reason": "finished",
        "total_chunks": CHUNKS,
        "content_sha256": hashlib.sha256(answer.encode()).hexdigest(),
    }
    return f"id: {STREAM}:{CHUNKS}\nevent: complete\ndata: {json.dumps(data)}\n\n".encode()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    resume_from = None
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("last-event-id:"):
            resume_from = int(line.split(":")[-1])
    writer.write(HEAD.format(trace=TRACE, stream=STREAM).encode() + b"retry: 10\n\n")
    # The bug: a resume starts at SEQ again instead of SEQ + 1.
    seqs = range(FIRST_CONNECTION_CHUNKS) if resume_from is None else range(resume_from, CHUNKS)
    for seq in seqs:
        writer.write(_event(seq))
        await writer.drain()
        await asyncio.sleep(0.05)
    if resume_from is not None:
        writer.write(_complete())
    await writer.drain()
    writer.close()


@asynccontextmanager
async def broken_server() -> AsyncIterator[str]:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/stream/search"
    finally:
        server.close()
        await server.wait_closed()
