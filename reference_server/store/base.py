"""What a replay store is: where a logical stream's events live, and who may produce them.

A store keeps each logical stream's record (who asked what, and when it started) and its log
of events. Every instance that serves a stream mirrors the log into a bounded local buffer that
connections read as cursors; exactly one instance at a time (the lead) produces, appending
through the log, which refuses the write of an instance that is no longer the lead.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from reference_server.answer import AnswerRequest


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    kind: str
    frame: bytes
    total_chunks: int  # the stream's totals once this event is in: any instance can report them
    total_tokens: int


@dataclass(frozen=True)
class StreamRecord:
    """What any instance needs to serve a stream it did not start."""

    stream_id: str
    trace_id: str
    user_id: str | None
    request: AnswerRequest
    started_wall: float  # time.time() at creation: the cap counts from it on every instance


class ReplayGap(Exception):
    """The requested position has already left the bounded replay buffer."""


class LogBroken(Exception):
    """The stream cannot go on here; open connections end with an `error` event of this code."""

    code = "internal_error"
    retryable = False


class StoreUnavailable(LogBroken):
    """The store did not answer in time (or refused the connection)."""

    code = "store_unavailable"
    retryable = True


class StreamExpired(LogBroken):
    """The stream's record left the store (its resume TTL passed) while this instance followed it."""

    code = "unknown_stream"


class LeaseLost(Exception):
    """Another instance leads the stream now (or nobody does): this one must not write."""


TERMINAL_KIND = "complete"
Mirror = Callable[[list[StoredEvent]], None]


class StreamLog(ABC):
    """One logical stream's events: a bounded local buffer, fed by this instance's appends (when
    it leads) or by following the store (when another instance does)."""

    def __init__(self, capacity: int) -> None:
        self._buffer: deque[StoredEvent] = deque(maxlen=capacity)

    def events_after(self, seq: int) -> list[StoredEvent]:
        """Buffered events with a sequence number above `seq`, oldest first."""
        if not self._buffer or self._buffer[-1].seq <= seq:
            return []
        first = self._buffer[0].seq
        if first > seq + 1:
            raise ReplayGap(f"event {seq + 1} has left the replay buffer (oldest kept: {first})")
        wanted = self._buffer[-1].seq - seq  # seqs are contiguous: the newest `wanted` events
        return list(itertools.islice(reversed(self._buffer), wanted))[::-1]

    @property
    def last_seq(self) -> int:
        return self._buffer[-1].seq if self._buffer else -1

    def newest(self) -> list[StoredEvent]:
        """The newest kept event (none when the log is empty)."""
        return [self._buffer[-1]] if self._buffer else []

    @property
    def ended(self) -> bool:
        return bool(self._buffer) and self._buffer[-1].kind == TERMINAL_KIND

    def _keep(self, events: Iterable[StoredEvent]) -> list[StoredEvent]:
        """Keep the events not kept yet (two reads of the store may overlap); returns those."""
        kept = []
        for event in events:
            if event.seq <= self.last_seq:
                continue
            if event.seq != self.last_seq + 1:
                self._buffer.clear()  # older events left the store too: keep the buffer contiguous
            self._buffer.append(event)
            kept.append(event)
        return kept

    @abstractmethod
    async def append(self, event: StoredEvent) -> None:
        """Write the next event (raises LeaseLost when this instance no longer leads)."""

    @abstractmethod
    async def lead(self, mirror: Mirror) -> None:
        """Return once this instance leads the stream, handing `mirror` what others append meanwhile;
        also return when the stream's terminal event has been mirrored."""

    @abstractmethod
    async def refresh(self, mirror: Mirror) -> None:
        """Hand `mirror` what the store holds past the local buffer now, when another instance leads:
        a resume may name an event it has just written."""

    @abstractmethod
    async def while_leading(self, production: Coroutine[Any, Any, None]) -> None:
        """Run `production` for as long as this instance leads (LeaseLost when it stops leading),
        then let go of the lead so another instance can take over at once."""


class StreamStore(ABC):
    """Where logical streams live: this process's memory, or a shared Redis."""

    @abstractmethod
    async def create(self, record: StreamRecord) -> StreamLog:
        """Keep a new stream; the creating instance leads it."""

    @abstractmethod
    async def open(self, stream_id: str) -> tuple[StreamRecord, StreamLog] | None:
        """A stream another instance started, its log holding what is kept so far; None if unknown."""

    @abstractmethod
    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers now."""

    @abstractmethod
    async def close(self) -> None:
        """Let go of the store's connections."""
