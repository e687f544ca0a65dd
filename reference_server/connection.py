"""The body of one SSE connection: a cursor into a logical stream's replay buffer.

After the retry hint it sends every buffered event past the cursor (a replay and the live
tail are one loop) and heartbeats on this connection's own schedule. It ends after the
stream's terminal event (`complete`; the producer in streams.py appends it at the duration
cap too), after an `error` event when the cursor has left the replay buffer, the server
drains or the replay store fails the stream, or abruptly when one send outlasts SEND_TIMEOUT
(or, with a seeded defect, on its own).

The view reads everything it needs from the request first: Quart's `request` is not
available while the body is iterated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator

from reference_server.defects import ConnectionEnd
from reference_server.store.base import LogBroken, ReplayGap, StoredEvent
from reference_server.streams import LogicalStream, StreamRegistry
from reference_server.wire import encode_event, encode_retry

log = logging.getLogger("reference_server")


async def connection_body(stream: LogicalStream, registry: StreamRegistry, after_seq: int) -> AsyncIterator[bytes]:
    """One connection's bytes: retry hint, then buffered events and per-connection heartbeats.

    Every frame goes out under a send deadline: Hypercorn has no write timeout, so a client
    that stops reading would hold its connection forever once the socket buffers are full.
    """
    config = stream.config
    end = config.behaviour.connection_end(config.heartbeat_interval, config.silence_threshold, after_seq >= 0)
    frames = _frames(stream, registry, after_seq)
    async with contextlib.aclosing(frames if end is None else _ended_early(frames, end)) as sent:
        async for frame in sent:
            with _send_deadline(stream):
                yield frame


async def _frames(stream: LogicalStream, registry: StreamRegistry, after_seq: int) -> AsyncIterator[bytes]:
    config = stream.config
    metrics = stream.metrics
    registry.attach(stream)
    sent = 0
    try:
        yield encode_retry(config.retry_ms)
        cursor = after_seq
        gaps = config.behaviour.heartbeat_gaps(config.heartbeat_interval)
        next_beat = time.monotonic() + next(gaps)
        while True:
            if registry.draining:
                yield _shutdown_event(stream)
                metrics.sent("error").inc()
                return
            if stream.broken is not None:
                yield _broken_event(stream, stream.broken)
                metrics.sent("error").inc()
                return
            now = time.monotonic()
            if now >= next_beat:
                yield encode_event("heartbeat", stream.heartbeat_data())
                metrics.sent("heartbeat").inc()
                interval = next(gaps)
                next_beat += interval * max(1, math.ceil((now - next_beat) / interval))
                continue
            seen = stream.version
            try:
                pending = stream.events_after(cursor)
            except ReplayGap as gap:
                yield _slow_consumer_event(stream, str(gap))
                return
            if pending:
                yield b"".join(event.frame for event in pending)
                _count_sent(stream, pending)
                sent += len(pending)
                cursor = pending[-1].seq
                if pending[-1] is stream.terminal:
                    return
                await asyncio.sleep(0)  # a real suspension point even if the send never blocks
                continue
            await stream.wait_for_change(seen, next_beat - now)
    finally:
        registry.detach(stream)
        log_stream("stream_end", stream, events_sent=sent, finished=stream.finished)


async def _ended_early(frames: AsyncIterator[bytes], end: ConnectionEnd) -> AsyncIterator[bytes]:
    """A seeded defect's connection: it stops sending `end.after` s in, stays open and silent
    `end.silent_for` s, then closes."""
    deadline = asyncio.get_running_loop().time() + end.after
    async with contextlib.aclosing(frames):
        while True:
            try:
                async with asyncio.timeout_at(deadline):  # around the wait for a frame, never a send
                    frame = await anext(frames)
            except StopAsyncIteration:
                return
            except TimeoutError:
                break
            yield frame
    await asyncio.sleep(end.silent_for)


def _count_sent(stream: LogicalStream, events: list[StoredEvent]) -> None:
    for event in events:
        stream.metrics.sent(event.kind).inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("event_sent", extra={"fields": {"trace_id": stream.trace_id, "seq": event.seq}})


@contextlib.contextmanager
def _send_deadline(stream: LogicalStream) -> Iterator[None]:
    """Cancel this connection's task if the send of one frame outlasts SEND_TIMEOUT."""
    task = asyncio.current_task()
    assert task is not None
    dropped = False

    def drop() -> None:
        nonlocal dropped
        dropped = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(stream.config.send_timeout, drop)
    try:
        yield
    finally:
        timer.cancel()
        if dropped:
            stream.metrics.slow_readers_dropped.inc()
            log_stream("stream_dropped", stream, reason="send_timeout")


def _shutdown_event(stream: LogicalStream) -> bytes:
    return _stream_error(stream, "shutting_down", "the server is shutting down; resume shortly", retryable=True)


def _broken_event(stream: LogicalStream, broken: LogBroken) -> bytes:
    return _stream_error(stream, broken.code, f"the stream cannot go on here: {broken}", retryable=broken.retryable)


def _slow_consumer_event(stream: LogicalStream, reason: str) -> bytes:
    return _stream_error(stream, "slow_consumer", f"the client fell behind: {reason}", retryable=False)


def _stream_error(stream: LogicalStream, code: str, message: str, retryable: bool) -> bytes:
    data = {"stream_id": stream.stream_id, "trace_id": stream.trace_id, "code": code, "message": message}
    return encode_event("error", data | {"retryable": retryable})


def log_stream(message: str, stream: LogicalStream, **extra: object) -> None:
    fields = {"stream_id": stream.stream_id, "trace_id": stream.trace_id} | extra
    log.info(message, extra={"fields": fields})
