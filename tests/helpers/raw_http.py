"""Send hand-made HTTP/1.1 requests (any bytes at all) and read a bounded answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

ANSWER_LIMIT = 16_384
_STREAM_BLOCKS = 3  # of a stream answer, read the retry line and the first two events


@dataclass
class RawAnswer:
    status: int | None  # None: the server closed without a status line
    head: bytes
    body: bytes

    @property
    def everything(self) -> bytes:
        return self.head + self.body


async def raw_request(base_url: str, request: bytes, deadline: float = 5.0) -> RawAnswer:
    """Write `request` as is; read the head and a bounded body, then close."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    data = b""
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(deadline):
            while not _complete(data) and len(data) < ANSWER_LIMIT:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                data += chunk
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None
    return RawAnswer(status, head, body)


def _complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    lowered = head.lower()
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    if b"text/event-stream" in lowered:
        return body.count(b"\n\n") >= _STREAM_BLOCKS
    return False


def request(target: bytes, headers: dict[bytes, bytes] | None = None, method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: test", b"Accept: text/event-stream"]
    lines += [name + b": " + value for name, value in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"
