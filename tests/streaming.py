"""Test helpers: read a stream with httpx and the project's parser, with a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

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
