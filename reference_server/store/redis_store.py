"""The shared store: every logical stream in one Redis, so any instance can serve any stream.

Keys of stream SID (one hash slot, `{SID}`), each expiring the resume TTL after the stream's
last write or lease renewal:

- `sse:{SID}:meta`: a hash, the stream's record (trace id, request, wall-clock start);
- `sse:{SID}:log`: a Redis Stream, one entry per event, entry id `SEQ-1`: Redis refuses an id
  that is not above the newest, so a seq is never written twice, even by instances racing;
  trimmed to the replay buffer's length;
- `sse:{SID}:lease`: the token of the one instance that produces the stream, expiring after
  STREAM_LEASE_SECONDS unless it renews it. Every write is a script that appends only while
  the writer's token is still the lease: an instance that was frozen past its lease writes
  nothing when it wakes.

Every call is bounded by STORE_TIMEOUT (a blocking read by its block time more); a store that
does not answer in time raises StoreUnavailable, and the next call connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from reference_server.answer import AnswerRequest
from reference_server.store.base import (
    LeaseLost,
    Mirror,
    StoredEvent,
    StoreUnavailable,
    StreamExpired,
    StreamLog,
    StreamRecord,
    StreamStore,
)

T = TypeVar("T")

_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], ARGV[3],
           'kind', ARGV[4], 'frame', ARGV[5], 'chunks', ARGV[6], 'tokens', ARGV[7], 'writer', ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[9])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_MAX_CONNECTIONS = 512  # a following instance holds one per stream during each blocking read
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)
_SEQ_TAKEN = "equal or smaller than the target stream top item"  # XADD's refusal of an id not above the newest


@dataclass(frozen=True)
class RedisSettings:
    url: str
    capacity: int  # events kept per stream: REPLAY_BUFFER_EVENTS
    resume_ttl: float
    lease_seconds: float
    timeout: float

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.resume_ttl * 1000))

    @property
    def lease_ms(self) -> int:
        return max(1, round(self.lease_seconds * 1000))

    @property
    def follow_block(self) -> float:
        """How long a following read waits for a write before trying to take over the lease."""
        return self.lease_seconds / 4


def writer_name() -> str:
    """Names this process in each entry it writes: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Keys:
    def __init__(self, stream_id: str) -> None:
        self.meta = f"sse:{{{stream_id}}}:meta"
        self.log = f"sse:{{{stream_id}}}:log"
        self.lease = f"sse:{{{stream_id}}}:lease"


class _Client:
    """The Redis connection pool and its scripts, every call bounded in time."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        pool = BlockingConnectionPool.from_url(
            settings.url,
            max_connections=_MAX_CONNECTIONS,
            timeout=settings.timeout,
            socket_timeout=settings.timeout + settings.follow_block,
            socket_connect_timeout=settings.timeout,
        )
        self.redis = Redis(connection_pool=pool)
        self.append = self.redis.register_script(_APPEND)
        self.renew = self.redis.register_script(_RENEW)
        self.release = self.redis.register_script(_RELEASE)

    async def call(self, request: Awaitable[T], waits: float = 0.0) -> T:
        try:
            async with asyncio.timeout(self.settings.timeout + waits):
                return await request
        except _UNAVAILABLE as error:
            raise StoreUnavailable(f"the replay store did not answer: {type(error).__name__}") from None
        except ResponseError as error:
            if _SEQ_TAKEN in str(error):
                raise
            raise StoreUnavailable(f"the replay store refused a command: {str(error)[:200]}") from None


class RedisLog(StreamLog):
    def __init__(self, client: _Client, stream_id: str, token: str | None) -> None:
        super().__init__(client.settings.capacity)
        self._client = client
        self._keys = _Keys(stream_id)
        self._token = token  # set while this instance holds the lease
        self._writer = writer_name()

    async def append(self, event: StoredEvent) -> None:
        if self._token is None:
            raise LeaseLost("this instance does not lead the stream")
        keys, settings = self._keys, self._client.settings
        arguments = [self._token, settings.capacity, f"{event.seq}-1", event.kind, event.frame,
                     event.total_chunks, event.total_tokens, self._writer, settings.ttl_ms]  # fmt: skip
        try:
            written = await self._client.call(self._client.append([keys.lease, keys.log, keys.meta], arguments))
        except ResponseError:  # the seq is already in the log: another instance wrote it
            written = 0
        if not written:
            self._token = None
            raise LeaseLost(f"event {event.seq} refused: this instance no longer leads the stream")
        self._keep((event,))

    async def lead(self, mirror: Mirror) -> None:
        next_claim = 0.0
        while self._token is None:
            block = self._client.settings.follow_block
            read = self._client.redis.xread({self._keys.log: self._position()}, block=max(1, round(block * 1000)))
            mirror(self._keep(_events(await self._client.call(read, waits=block))))
            if self.ended:
                return
            if time.monotonic() >= next_claim and await self._claim():
                await self._catch_up(mirror)
                return
            next_claim = time.monotonic() + block

    async def _claim(self) -> bool:
        token = secrets.token_hex(16)
        request = self._client.redis.set(self._keys.lease, token, nx=True, px=self._client.settings.lease_ms)
        if not await self._client.call(request):
            return False
        self._token = token
        return True

    async def _catch_up(self, mirror: Mirror) -> None:
        """What the former lead wrote before its lease expired; then the stream is ours to go on."""
        if not await self._client.call(self._client.redis.exists(self._keys.meta)):
            await self._let_go()
            raise StreamExpired("the stream's record expired from the replay store")
        mirror(self._keep(await self._range()))
        if self.ended:
            await self._let_go()

    async def refresh(self, mirror: Mirror) -> None:
        if self._token is None:  # the lead keeps what it writes itself
            mirror(self._keep(await self._range()))

    async def load(self) -> None:
        """Keep what the store holds of the log (a stream another instance started)."""
        self._keep(await self._range())

    async def _range(self) -> list[StoredEvent]:
        start = "-" if self.last_seq < 0 else f"({self._position()}"
        return _events_of(await self._client.call(self._client.redis.xrange(self._keys.log, start, "+")))

    def _position(self) -> str:
        return "0-0" if self.last_seq < 0 else f"{self.last_seq}-1"

    async def while_leading(self, production: Coroutine[Any, Any, None]) -> None:
        producing = asyncio.ensure_future(production)
        renewing = asyncio.ensure_future(self._renew())
        try:
            await asyncio.wait({producing, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if not producing.done():
                renewing.result()  # it ended: raises LeaseLost or StoreUnavailable
            producing.result()
        except StoreUnavailable:
            self._token = None  # no release to wait for: the lease expires on its own
            raise
        finally:
            for task in (producing, renewing):
                task.cancel()
            await asyncio.gather(producing, renewing, return_exceptions=True)
            await self._let_go()

    async def _renew(self) -> None:
        settings = self._client.settings
        while True:
            await asyncio.sleep(settings.lease_seconds / 3)
            if self._token is None:
                raise LeaseLost("this instance no longer leads the stream")
            keys = [self._keys.lease, self._keys.log, self._keys.meta]
            if not await self._client.call(self._client.renew(keys, [self._token, settings.lease_ms, settings.ttl_ms])):
                self._token = None
                raise LeaseLost("the lease expired before it was renewed")

    async def _let_go(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            with contextlib.suppress(StoreUnavailable):  # then it expires on its own
                await self._client.call(self._client.release([self._keys.lease], [token]))


class RedisStore(StreamStore):
    def __init__(self, settings: RedisSettings) -> None:
        self._client = _Client(settings)

    async def create(self, record: StreamRecord) -> StreamLog:
        keys, settings = _Keys(record.stream_id), self._client.settings
        token = secrets.token_hex(16)
        transaction = self._client.redis.pipeline(transaction=True)
        transaction.hset(keys.meta, mapping=_meta_of(record))
        transaction.pexpire(keys.meta, settings.ttl_ms)
        transaction.set(keys.lease, token, px=settings.lease_ms)
        await self._client.call(transaction.execute())
        return RedisLog(self._client, record.stream_id, token)

    async def open(self, stream_id: str) -> tuple[StreamRecord, StreamLog] | None:
        meta = await self._client.call(self._client.redis.hgetall(_Keys(stream_id).meta))
        if not meta:
            return None
        log = RedisLog(self._client, stream_id, None)
        await log.load()
        return _record_of(stream_id, meta), log

    async def check(self) -> None:
        await self._client.call(self._client.redis.ping())

    async def close(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._client.call(self._client.redis.aclose())


def _meta_of(record: StreamRecord) -> dict[str, str]:
    request = record.request
    return {
        "trace_id": record.trace_id,
        "user_id": record.user_id or "",
        "query": request.query,
        "max_tokens": str(request.max_tokens),
        "temperature": repr(request.temperature),
        "started": repr(record.started_wall),
    }


def _record_of(stream_id: str, meta: dict[bytes, bytes]) -> StreamRecord:
    field = {name.decode(): value.decode() for name, value in meta.items()}
    request = AnswerRequest(field["query"], int(field["max_tokens"]), float(field["temperature"]))
    return StreamRecord(stream_id, field["trace_id"], field["user_id"] or None, request, float(field["started"]))


def _events(reply: list[Any] | None) -> list[StoredEvent]:
    """XREAD's reply for one key: [[key, entries]], or nothing when the block ran out."""
    return _events_of(reply[0][1]) if reply else []


def _events_of(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[StoredEvent]:
    return [_event_of(entry_id, fields) for entry_id, fields in entries]


def _event_of(entry_id: bytes, fields: dict[bytes, bytes]) -> StoredEvent:
    seq = int(entry_id.split(b"-")[0])
    return StoredEvent(seq, fields[b"kind"].decode(), fields[b"frame"], int(fields[b"chunks"]), int(fields[b"tokens"]))
