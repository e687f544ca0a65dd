"""The replay store's contract, on both stores (memory, and a real redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from harness.toxiproxy.server import free_port
from reference_server.answer import AnswerRequest
from reference_server.store.base import (
    LeaseLost,
    ReplayGap,
    StoredEvent,
    StoreUnavailable,
    StreamLog,
    StreamRecord,
    StreamStore,
)
from reference_server.store.memory_store import MemoryStore
from reference_server.store.redis_store import RedisSettings, RedisStore, writer_name

pytestmark = pytest.mark.asyncio

CAPACITY = 4
LEASE = 0.3
TTL = 5.0


def settings(url: str, timeout: float = 1.0) -> RedisSettings:
    return RedisSettings(url=url, capacity=CAPACITY, resume_ttl=TTL, lease_seconds=LEASE, timeout=timeout)


def record() -> StreamRecord:
    request = AnswerRequest("what is sse", 40, 0.7)
    return StreamRecord(secrets.token_hex(8), "trace-1", "user-1", request, time.time())


def event(seq: int, kind: str = "content_chunk") -> StoredEvent:
    return StoredEvent(seq, kind, f"id: s:{seq}\nevent: {kind}\ndata: {{}}\n\n".encode(), seq + 1, 2 * (seq + 1))


StoreFactory = Callable[[], StreamStore]


async def lead_and_follower(stores: StoreFactory) -> tuple[StreamRecord, StreamLog, StreamLog]:
    """A stream one instance created and wrote event 0 of, and the same stream opened by another."""
    created = record()
    lead = await stores().create(created)
    await lead.append(event(0))
    opened = await stores().open(created.stream_id)
    assert opened is not None
    return created, lead, opened[1]


@pytest_asyncio.fixture
async def redis_stores(redis_url: str) -> AsyncIterator[StoreFactory]:
    """Stores on one Redis, each as another instance would hold it; all closed after the test."""
    opened: list[StreamStore] = []

    def make() -> StreamStore:
        opened.append(RedisStore(settings(redis_url)))
        return opened[-1]

    yield make
    for store in opened:
        await store.close()


@pytest.fixture(params=["memory", "redis"])
def new_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        return lambda: MemoryStore(CAPACITY)
    return request.getfixturevalue("redis_stores")


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=2)
    yield client
    await client.aclose()


async def test_the_creating_instance_leads_and_reads_back_what_it_appends(new_store: StoreFactory) -> None:
    log = await new_store().create(record())
    async with asyncio.timeout(2):
        await log.lead(lambda events: pytest.fail("nothing to mirror"))
    assert (log.last_seq, log.newest(), log.events_after(-1)) == (-1, [], [])
    for seq in range(3):
        await log.append(event(seq))
    assert log.events_after(0) == [event(1), event(2)]
    assert log.events_after(2) == []
    assert (log.last_seq, log.newest(), log.ended) == (2, [event(2)], False)
    await log.append(event(3, "complete"))
    assert log.ended


async def test_the_log_is_bounded_and_a_position_before_it_is_a_gap(new_store: StoreFactory) -> None:
    log = await new_store().create(record())
    for seq in range(10):
        await log.append(event(seq))
    assert [e.seq for e in log.events_after(5)] == [6, 7, 8, 9]
    with pytest.raises(ReplayGap, match="event 5 has left the replay buffer"):
        log.events_after(4)


async def test_production_runs_while_leading(new_store: StoreFactory) -> None:
    log = await new_store().create(record())

    async def production() -> None:
        await asyncio.sleep(2 * LEASE)  # past the lease: it must have been renewed
        await log.append(event(0))

    async with asyncio.timeout(5):
        await log.while_leading(production())
    assert log.newest() == [event(0)]


async def test_memory_knows_only_the_streams_it_created() -> None:
    assert await MemoryStore(CAPACITY).open(secrets.token_hex(8)) is None


async def test_another_instance_opens_the_record_and_the_kept_events(redis_stores: StoreFactory) -> None:
    created = record()
    log = await redis_stores().create(created)
    for seq in range(6):
        await log.append(event(seq))
    opened = await redis_stores().open(created.stream_id)
    assert opened is not None
    assert opened[0] == created
    assert opened[1].events_after(1) == [event(2), event(3), event(4), event(5)]
    assert await redis_stores().open(secrets.token_hex(8)) is None


async def test_a_follower_refreshes_to_what_the_lead_has_just_written(redis_stores: StoreFactory) -> None:
    _created, lead, follower = await lead_and_follower(redis_stores)
    await lead.append(event(1))
    await lead.append(event(2))
    mirrored: list[StoredEvent] = []
    await follower.refresh(mirrored.extend)
    await follower.refresh(mirrored.extend)
    assert mirrored == [event(1), event(2)]
    assert follower.events_after(-1) == [event(0), event(1), event(2)]


async def test_overlapping_reads_of_the_store_keep_nothing_twice(redis_stores: StoreFactory) -> None:
    _created, lead, follower = await lead_and_follower(redis_stores)
    await lead.append(event(1))
    mirrored: list[StoredEvent] = []
    await asyncio.gather(follower.refresh(mirrored.extend), follower.refresh(mirrored.extend))  # both read from 0
    assert mirrored == [event(1)]
    assert follower.events_after(-1) == [event(0), event(1)]


async def test_the_lead_and_memory_have_nothing_to_refresh(new_store: StoreFactory) -> None:
    log = await new_store().create(record())
    await log.append(event(0))
    await log.refresh(lambda events: pytest.fail(f"mirrored {events}"))
    assert log.events_after(-1) == [event(0)]


async def test_a_follower_cannot_write_and_takes_over_once_the_lease_expires(redis_stores: StoreFactory) -> None:
    _created, lead, follower = await lead_and_follower(redis_stores)
    with pytest.raises(LeaseLost):
        await follower.append(event(1))
    mirrored: list[StoredEvent] = []
    async with asyncio.timeout(5):
        taking_over = asyncio.create_task(follower.lead(mirrored.extend))
        await asyncio.sleep(LEASE / 3)
        await lead.append(event(1))  # mirrored while the lease holds
        await taking_over  # the former lead never renews: its lease expires
    assert mirrored == [event(1)]
    await follower.append(event(2))
    assert follower.events_after(-1) == [event(0), event(1), event(2)]


async def test_a_lead_that_lost_its_lease_writes_nothing_more(redis_stores: StoreFactory, redis: Redis) -> None:
    created, lead, follower = await lead_and_follower(redis_stores)
    async with asyncio.timeout(5):
        await follower.lead(lambda events: None)
    with pytest.raises(LeaseLost):
        await lead.append(event(1))  # a seq nobody wrote yet: only the lease check refuses it
    entries = await redis.xrange(f"sse:{{{created.stream_id}}}:log")
    assert [entry_id for entry_id, _ in entries] == [b"0-1"]


async def test_a_seq_is_never_written_twice(redis_stores: StoreFactory, redis: Redis) -> None:
    created = record()
    log = await redis_stores().create(created)
    await log.append(event(0))
    await log.append(event(1))
    with pytest.raises(LeaseLost, match="event 1 refused"):
        await log.append(event(1))
    entries = await redis.xrange(f"sse:{{{created.stream_id}}}:log")
    assert [entry_id for entry_id, _ in entries] == [b"0-1", b"1-1"]
    assert {fields[b"writer"] for _, fields in entries} == {writer_name().encode()}


async def test_a_store_that_refuses_a_write_is_unavailable(redis_stores: StoreFactory, redis: Redis) -> None:
    created = record()
    log = await redis_stores().create(created)
    await redis.set(f"sse:{{{created.stream_id}}}:log", "not a stream")
    with pytest.raises(StoreUnavailable, match="the replay store refused a command: WRONGTYPE"):
        await log.append(event(0))


async def test_every_key_carries_the_resume_ttl_and_the_lease_its_own(redis_stores: StoreFactory, redis: Redis) -> None:
    created = record()
    log = await redis_stores().create(created)
    await log.append(event(0))
    keys = {name: f"sse:{{{created.stream_id}}}:{name}" for name in ("meta", "log", "lease")}
    ttls = {name: await redis.pttl(key) for name, key in keys.items()}
    assert 0 < ttls["meta"] <= TTL * 1000
    assert 0 < ttls["log"] <= TTL * 1000
    assert 0 < ttls["lease"] <= LEASE * 1000
    assert await redis.xlen(keys["log"]) == 1


async def test_the_shared_log_is_trimmed_to_the_buffer_length(redis_stores: StoreFactory, redis: Redis) -> None:
    created = record()
    log = await redis_stores().create(created)
    for seq in range(10):
        await log.append(event(seq))
    assert await redis.xlen(f"sse:{{{created.stream_id}}}:log") == CAPACITY


async def test_a_refused_connection_is_unavailable_at_once() -> None:
    store = RedisStore(settings(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        async with asyncio.timeout(2):
            with pytest.raises(StoreUnavailable):
                await store.create(record())
            with pytest.raises(StoreUnavailable):
                await store.check()
    finally:
        await store.close()


async def test_a_store_that_never_answers_is_unavailable_after_the_timeout() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(settings(f"redis://127.0.0.1:{port}/0", timeout=0.3))
    try:
        started = time.monotonic()
        async with asyncio.timeout(3):
            with pytest.raises(StoreUnavailable):
                await store.check()
        assert time.monotonic() - started < 1.5
    finally:
        await store.close()
        for writer in connections:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
