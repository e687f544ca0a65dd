"""Logical streams: generated once, read by any number of connections over time.

A logical stream owns a producer task that appends events to its log (store/) at the content
pace, whether or not a client is attached. A connection is only a cursor into the log's bounded
buffer, so a resume can neither skip nor repeat an event: there is one source of truth and no
hand-over between a replay phase and a live phase. With a shared store, an instance that does
not lead the stream follows the log into the same buffer, and takes over producing at the next
seq when the lead's lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reference_server.answer import AnswerRequest
from reference_server.config import ServerConfig
from reference_server.metrics import ServerMetrics
from reference_server.store.base import (
    TERMINAL_KIND,
    LeaseLost,
    LogBroken,
    StoredEvent,
    StreamLog,
    StreamRecord,
    StreamStore,
)
from reference_server.wire import encode_event, event_id


class TooManyStreams(Exception):
    """The global or per-user stream limit is reached."""


_BURST_CHUNKS = 64
log = logging.getLogger("reference_server")


@dataclass
class _Tally:
    """What a producer has generated so far: chunks, tokens and the answer's checksum."""

    chunks: int = 0
    tokens: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def add(self, content: str, tokens: int) -> None:
        self.chunks += 1
        self.tokens += tokens
        self.digest.update(content.encode())


@dataclass
class LogicalStream:
    record: StreamRecord
    log: StreamLog
    config: ServerConfig
    metrics: ServerMetrics
    started: float = field(init=False)  # the record's wall-clock start on this instance's monotonic clock
    heartbeat_count: int = 0
    total_chunks: int = 0
    total_tokens: int = 0
    terminal: StoredEvent | None = None
    broken: LogBroken | None = None  # the store failed the stream: connections end with its error
    readers: int = 0
    cap_at: float = field(init=False)  # when the producer ends the stream with duration_cap
    on_finished: Callable[[LogicalStream], None] | None = None
    on_broken: Callable[[LogicalStream], None] | None = None
    _version: int = 0  # counts appends and wakes
    _waiters: set[asyncio.Future[None]] = field(default_factory=set)
    _producer: asyncio.Task[None] | None = None
    _expiry: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.started = time.monotonic() - max(0.0, time.time() - self.record.started_wall)
        self._place_cap(self.started)
        self._accept(self.log.newest())

    @property
    def stream_id(self) -> str:
        return self.record.stream_id

    @property
    def trace_id(self) -> str:
        return self.record.trace_id

    @property
    def user_id(self) -> str | None:
        return self.record.user_id

    @property
    def request(self) -> AnswerRequest:
        return self.record.request

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
        self._producer = asyncio.create_task(self._run(), name=f"produce-{self.stream_id}")

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
        self.cancel_expiry()

    async def stopped(self) -> None:
        """Wait until the producer has let go of the stream (its lease, in a shared store)."""
        if self._producer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer

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
        """Kept events with a sequence number above `seq`, oldest first."""
        return self.log.events_after(seq)

    @property
    def last_seq(self) -> int:
        return self.log.last_seq

    async def refresh(self) -> None:
        """Keep what the store holds past the buffer now (another instance may have written it)."""
        await self.log.refresh(self._accept)

    async def _run(self) -> None:
        """Produce the stream while this instance leads it; follow the store while another does."""
        try:
            while not self.finished:
                await self.log.lead(self._accept)
                if self.finished:
                    return
                if self.last_seq >= 0:
                    self._log("stream_takeover", logging.INFO, next_seq=self.last_seq + 1)
                try:
                    await self.log.while_leading(self._produce(first=self.last_seq + 1))
                except LeaseLost as lost:
                    self._log("stream_lease_lost", logging.WARNING, reason=str(lost), last_seq=self.last_seq)
        except LogBroken as broken:
            self._log("stream_broken", logging.WARNING, code=broken.code, reason=str(broken))
            self.broken = broken
            self.wake()
            if self.on_broken is not None:
                self.on_broken(self)

    def _log(self, message: str, level: int, **extra: object) -> None:
        fields = {"stream_id": self.stream_id, "trace_id": self.trace_id} | extra
        log.log(level, message, extra={"fields": fields})

    async def _produce(self, first: int) -> None:
        """Generate the answer from its start, appending from position `first` on (the events
        before it are in the log already: another instance produced them)."""
        delay = self.config.chunk_delay_ms / 1000
        chunk_seqs = self.config.behaviour.chunk_seqs
        tally = _Tally()
        # The answer's generator (a seeded Random, 2.6 KB) is made when the first chunk is due:
        # a stream that is only waiting holds none (bench/idle_streams.py measures memory per stream).
        await asyncio.sleep(max(0.0, min(self.started + delay, self.cap_at) - time.monotonic()))
        for index, chunk in enumerate(self.request.chunks()):
            if tally.chunks >= first:  # a chunk to produce now, not one to count again
                due = min(self.started + (index + 1) * delay, self.cap_at)
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                elif index % _BURST_CHUNKS == 0:
                    # Behind schedule: produce what is due without waking the connections per
                    # chunk (they send it as one write), but let the loop run now and then.
                    await asyncio.sleep(0)
                if time.monotonic() >= self.cap_at:
                    await self._finish("duration_cap", tally)
                    return
            for seq in chunk_seqs(index):
                await self._append_chunk(seq, chunk.content, chunk.tokens, tally, first)
        await self._finish("finished", tally)

    async def _append_chunk(self, seq: int, content: str, tokens: int, tally: _Tally, first: int) -> None:
        position = tally.chunks  # the event id's number; only a defect gives the payload another seq
        tally.add(content, tokens)
        if position < first:
            return
        data = self._base() | {"seq": seq, "content": content, "tokens": tokens}
        frame = encode_event("content_chunk", data, self._id(position))
        await self._append(StoredEvent(position, "content_chunk", frame, tally.chunks, tally.tokens))

    async def _finish(self, reason: str, tally: _Tally) -> None:
        seq = tally.chunks
        data = self._base() | {
            "reason": reason,
            "duration": round(self.uptime(), 3),
            "total_chunks": tally.chunks,
            "total_tokens": tally.tokens,
            "content_sha256": tally.digest.hexdigest(),
            "sources": self.request.sources(),
        }
        frame = encode_event(TERMINAL_KIND, self.config.behaviour.complete_data(data), self._id(seq))
        await self._append(StoredEvent(seq, TERMINAL_KIND, frame, tally.chunks, tally.tokens))
        if reason == "duration_cap":
            self.metrics.caps_reached.inc()

    async def _append(self, event: StoredEvent) -> None:
        await self.log.append(event)
        self._accept([event])

    def _accept(self, events: list[StoredEvent]) -> None:
        """Events now in the log (appended here or by another instance): totals, end, wake readers."""
        if not events:
            return
        newest = events[-1]
        self.total_chunks, self.total_tokens = newest.total_chunks, newest.total_tokens
        if newest.kind == TERMINAL_KIND:
            self.terminal = newest
            if self.on_finished is not None:
                self.on_finished(self)
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
    """Every live or recently ended logical stream this instance serves, with the server's limits."""

    def __init__(self, config: ServerConfig, metrics: ServerMetrics, store: StreamStore) -> None:
        self.config = config
        self.metrics = metrics
        self.store = store
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

    async def find(self, stream_id: str) -> LogicalStream | None:
        """The stream, served here already or kept in a shared store by another instance."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            return stream
        opened = await self.store.open(stream_id)
        if opened is None:
            return None
        record, log = opened
        if stream_id in self._streams:  # another request opened it while this one waited
            return self._streams[stream_id]
        self._check_limits(record.user_id)
        return self._add(record, log)

    async def create(self, request: AnswerRequest, user_id: str | None, trace_id: str) -> LogicalStream:
        self._check_limits(user_id)
        record = StreamRecord(secrets.token_hex(8), trace_id, user_id, request, time.time())
        stream = self._add(record, await self.store.create(record))
        self.metrics.streams_started.inc()
        return stream

    def _add(self, record: StreamRecord, log: StreamLog) -> LogicalStream:
        stream = LogicalStream(
            record, log, self.config, self.metrics, on_finished=self._finished, on_broken=self._forget
        )
        self._streams[stream.stream_id] = stream
        if not stream.finished:
            self._unfinished[stream.stream_id] = record.user_id
            if record.user_id is not None:
                self._unfinished_per_user[record.user_id] += 1
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
        if self._streams.get(stream.stream_id) is stream:
            del self._streams[stream.stream_id]
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

    async def close(self) -> None:
        """Stop every stream, wait (bounded) until each has let go of the store, then close it."""
        streams = list(self._streams.values())
        for stream in streams:
            self._forget(stream)
        if streams:
            await asyncio.wait([asyncio.ensure_future(s.stopped()) for s in streams], timeout=self.config.store_timeout)
        await self.store.close()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
