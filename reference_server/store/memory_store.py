"""The default store: this process's memory. The process that creates a stream is its only
instance, so it always leads, and a stream another process started is unknown here."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from reference_server.store.base import Mirror, StoredEvent, StreamLog, StreamRecord, StreamStore


class MemoryLog(StreamLog):
    async def append(self, event: StoredEvent) -> None:
        self._keep((event,))

    async def lead(self, mirror: Mirror) -> None:
        return

    async def refresh(self, mirror: Mirror) -> None:
        return  # the buffer is the whole log

    async def while_leading(self, production: Coroutine[Any, Any, None]) -> None:
        await production


class MemoryStore(StreamStore):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    async def create(self, record: StreamRecord) -> StreamLog:
        return MemoryLog(self.capacity)

    async def open(self, stream_id: str) -> tuple[StreamRecord, StreamLog] | None:
        return None

    async def check(self) -> None:
        return  # this process's memory always answers

    async def close(self) -> None:
        return  # it holds no connection
