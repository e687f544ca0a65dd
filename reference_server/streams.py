"""Logical streams: generated once, read by any number of connections over time.

A logical stream owns a producer task that appends events to a bounded replay buffer at
the content pace, whether or not a client is attached. A connection is only a cursor into
that buffer, so a resume can neither skip nor repeat an event: there is one source of truth
and no hand-over between a replay phase and a live phase.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reference_server.answer import AnswerRequest
from reference_server.config import ServerConfig
from reference_server.metrics import ServerMetrics
from reference_server.wire import encode_event, event_id


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    kind: str
    frame: bytes


class TooManyStreams(Exception):
    """The global or per-user stream limit is reached."""


_BURST_CHUNKS = 64


class ReplayGap(Exception):
    """The requested position has already left the bounded replay buffer."""


@dataclass
class LogicalStream:
    stream_id: str
    trace_id: str
    user_id: str | None
    request: AnswerRequest
    config: ServerConfig
    metrics: ServerMetrics
    started: float = field(default_factory=time.monotonic)
    heartbeat_count: int = 0
    total_chunks: int = 0
    total_tokens: int = 0
    terminal: StoredEvent | None = None
    readers: int = 0
    cap_at: float = field(init=False)  # when the producer ends the stream with duration_cap
    _buffer: deque[StoredEvent] = field(init=False)
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    on_finished: Callable[[LogicalStream], None] | None = None
    _version: int = 0  # counts appends and wakes
    _waiters: set[asyncio.Future[None]] = field(default_factory=set)
    _producer: asyncio.Task[None] | None = None
    _expiry: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self._buffer = deque(maxlen=self.config.replay_buffer_events)
        self._place_cap(self.started)

    @property
    def finished(self) -> bool:
        return self.terminal is not None

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.config.stream_max_seconds - self.uptime())

    def attach(self) -> None:
        """A connection starts reading the stream."""
        self.readers += 1
        self.cancel_expiry()
        self._place_cap(time.monotonic())

    def _place_cap(self, attached: float) -> None:
        self.cap_at = self.config.behaviour.cap_deadline(self.started, attached, self.config.stream_max_seconds)

    def start(self) -> None:
        self._producer = asyncio.create_task(self._produce(), name=f"produce-{self.stream_id}")

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
        self.cancel_expiry()

    def wake(self) -> None:
        """Wake every connection waiting on this stream (an append does this too)."""
        self._version += 1
        for waiter in self._waiters:
            _settle(waiter)
        self._waiters.clear()

    @property
    def version(self) -> int:
        """Read it before checking for events; `wait_for_change` then misses nothing."""
        return self._version

    async def wait_for_change(self, seen_version: int, at_most: float) -> None:
        """Return at the first append or wake after `seen_version`, or after `at_most` seconds.

        One future and one timer: no task and no cancellation, since every connection waits
        like this once per heartbeat (asyncio.wait_for made idle streams CPU-bound).
        """
        if self._version != seen_version:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.add(waiter)
        timer = loop.call_later(at_most, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiters.discard(waiter)

    def schedule_expiry(self, ttl: float, expire: Callable[[LogicalStream], None]) -> None:
        self._expiry = asyncio.get_running_loop().call_later(ttl, expire, self)

    def cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

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

    async def _produce(self) -> None:
        delay = self.config.chunk_delay_ms / 1000
        chunk_seqs = self.config.behaviour.chunk_seqs
        # The answer's generator (a seeded Random, 2.6 KB) is made when the first chunk is due:
        # a stream that is only waiting holds none (bench/idle_streams.py measures memory per stream).
        await asyncio.sleep(max(0.0, min(self.started + delay, self.cap_at) - time.monotonic()))
        for index, chunk in enumerate(self.request.chunks()):
            due = min(self.started + (index + 1) * delay, self.cap_at)
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            elif index % _BURST_CHUNKS == 0:
                # Behind schedule: produce what is due without waking the connections per
                # chunk (they send it as one write), but let the loop run now and then.
                await asyncio.sleep(0)
            if time.monotonic() >= self.cap_at:
                self._finish("duration_cap")
                return
            for seq in chunk_seqs(index):
                self._append_chunk(seq, chunk.content, chunk.tokens)
        self._finish("finished")

    def _append_chunk(self, seq: int, content: str, tokens: int) -> None:
        position = self.total_chunks  # the event id's number; only a defect gives the payload another seq
        self.total_chunks += 1
        self.total_tokens += tokens
        self._digest.update(content.encode())
        data = self._base() | {"seq": seq, "content": content, "tokens": tokens}
        self._append(StoredEvent(position, "content_chunk", encode_event("content_chunk", data, self._id(position))))

    def _finish(self, reason: str) -> None:
        seq = self.total_chunks
        data = self._base() | {
            "reason": reason,
            "duration": round(self.uptime(), 3),
            "total_chunks": self.total_chunks,
            "total_tokens": self.total_tokens,
            "content_sha256": self._digest.hexdigest(),
            "sources": self.request.sources(),
        }
        frame = encode_event("complete", self.config.behaviour.complete_data(data), self._id(seq))
        self.terminal = StoredEvent(seq, "complete", frame)
        self._append(self.terminal)
        if reason == "duration_cap":
            self.metrics.caps_reached.inc()
        if self.on_finished is not None:
            self.on_finished(self)

    def _append(self, event: StoredEvent) -> None:
        self._buffer.append(event)
        self.wake()

    def heartbeat_data(self) -> dict[str, object]:
        self.heartbeat_count += 1
        data = self._base() | {
            "timestamp": _utc_now_iso(),
            "uptime_seconds": round(self.uptime(), 3),
            "total_chunks": self.total_chunks,
            "total_tokens": self.total_tokens,
            "heartbeat_count": self.heartbeat_count,
            "remaining_seconds": round(self.remaining(), 3),
            "max_duration": self.config.stream_max_seconds,
        }
        return self.config.behaviour.heartbeat_data(data)

    def _base(self) -> dict[str, object]:
        return {"stream_id": self.stream_id, "trace_id": self.trace_id}

    def _id(self, seq: int) -> str:
        return event_id(self.stream_id, seq)


class StreamRegistry:
    """Every live or recently ended logical stream, with the server's limits."""

    def __init__(self, config: ServerConfig, metrics: ServerMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.draining = False
        self._streams: dict[str, LogicalStream] = {}
        self._unfinished: dict[str, str | None] = {}  # stream id -> user id, for the limits
        self._unfinished_per_user: Counter[str] = Counter()
        self._connections = 0
        self._drained = asyncio.Event()
        self._drained.set()

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def open_connections(self) -> int:
        return self._connections

    def get(self, stream_id: str) -> LogicalStream | None:
        return self._streams.get(stream_id)

    def create(self, request: AnswerRequest, user_id: str | None, trace_id: str) -> LogicalStream:
        self._check_limits(user_id)
        stream = LogicalStream(
            secrets.token_hex(8), trace_id, user_id, request, self.config, self.metrics, on_finished=self._finished
        )
        self._streams[stream.stream_id] = stream
        self._unfinished[stream.stream_id] = user_id
        if user_id is not None:
            self._unfinished_per_user[user_id] += 1
        self.metrics.streams_started.inc()
        self.metrics.logical_streams.set(len(self._streams))
        stream.start()
        return stream

    def _check_limits(self, user_id: str | None) -> None:
        if len(self._unfinished) >= self.config.max_streams:
            raise TooManyStreams("too many open streams on this server")
        if user_id is not None and self._unfinished_per_user[user_id] >= self.config.max_streams_per_user:
            raise TooManyStreams("too many open streams for this user_id")
        if len(self._streams) >= 2 * self.config.max_streams:
            self._evict_oldest_finished()

    def _evict_oldest_finished(self) -> None:
        idle = [s for s in self._streams.values() if s.finished and s.readers == 0]
        if not idle:
            raise TooManyStreams("too many retained streams on this server")
        self._forget(min(idle, key=lambda s: s.started))

    def attach(self, stream: LogicalStream) -> None:
        stream.attach()
        self._connections += 1
        self._drained.clear()
        self.metrics.open_connections.set(self._connections)

    def detach(self, stream: LogicalStream) -> None:
        stream.readers -= 1
        self._connections -= 1
        self.metrics.open_connections.set(self._connections)
        if self._connections == 0:
            self._drained.set()
        if stream.readers == 0 and stream.stream_id in self._streams:
            stream.schedule_expiry(self.config.behaviour.resume_ttl(self.config.stream_resume_ttl), self._forget)

    def _finished(self, stream: LogicalStream) -> None:
        if stream.stream_id not in self._unfinished:
            return
        user_id = self._unfinished.pop(stream.stream_id)
        if user_id is not None:
            self._unfinished_per_user[user_id] -= 1
            if not self._unfinished_per_user[user_id]:
                del self._unfinished_per_user[user_id]

    def _forget(self, stream: LogicalStream) -> None:
        self._finished(stream)
        stream.stop()
        self._streams.pop(stream.stream_id, None)
        self.metrics.logical_streams.set(len(self._streams))

    async def drain(self, within_seconds: float) -> bool:
        """Ask every connection to end and wait (bounded) until none is open."""
        self.draining = True
        for stream in self._streams.values():
            stream.wake()
        try:
            await asyncio.wait_for(self._drained.wait(), within_seconds)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        for stream in list(self._streams.values()):
            self._forget(stream)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
