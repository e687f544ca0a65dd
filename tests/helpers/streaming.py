"""Test helpers: read a stream with httpx and the project's parser, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.embedded import EmbeddedServer
from harness.sse import Comment, Event, SSEParser


@dataclass
class Received:
    status: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    raw: bytes = b""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(e.data) for e in self.events if e.event == kind]

    @property
    def kinds(self) -> list[str]:
        return [e.event for e in self.events]

    def content(self) -> str:
        return "".join(chunk["content"] for chunk in self.of("content_chunk"))


async def read_stream(
    url: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | dict[str, bytes] | None = None,
    stop: Callable[[Received], bool] | None = None,
    deadline: float = 10.0,
) -> Received:
    """Read until the server closes, `stop(received)` is true, or the deadline (an error)."""
    async with (
        asyncio.timeout(deadline),
        httpx.AsyncClient(timeout=deadline) as http,
        http.stream("GET", url, params=params, headers=headers) as response,
    ):
        received = Received(response.status_code, response.headers)
        parser = SSEParser()
        async for chunk in response.aiter_raw():
            received.raw += chunk
            for item in parser.feed(chunk):
                if isinstance(item, Event):
                    received.events.append(item)
                else:
                    received.comments.append(item)
            if stop is not None and stop(received):
                break
        return received


def seq_at_least(seq: int) -> Callable[[Received], bool]:
    return lambda received: any(c["seq"] >= seq for c in received.of("content_chunk"))


async def metric(server: EmbeddedServer, name: str, http: httpx.AsyncClient | None = None) -> float:
    """A metric's value (summed over labels). Pass `http` to poll over one kept-alive connection:
    the server keeps each closed connection's tasks for its keep-alive timeout."""
    async with contextlib.AsyncExitStack() as stack:
        client = http or await stack.enter_async_context(httpx.AsyncClient())
        text = (await client.get(f"{server.base_url}/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


async def wait_for_metric(
    server: EmbeddedServer, name: str, value: float, deadline: float = 5.0, http: httpx.AsyncClient | None = None
) -> None:
    async with asyncio.timeout(deadline):
        while await metric(server, name, http) != value:
            await asyncio.sleep(0.02)
