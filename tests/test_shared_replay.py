"""Reference-server instances sharing a real redis-server: takeover after a kill, no write from a
lead frozen past its lease, and a Redis outage (docs/protocol.md §5, §8)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from harness.deploy.redis import running_redis
from harness.embedded import EmbeddedServer, embedded_server
from tests.helpers.redis import require_redis
from tests.helpers.servers import TEST_TIMING
from tests.helpers.streaming import Received, metric, read_stream, seq_at_least

pytestmark = pytest.mark.asyncio

LEASE = 0.5
TIMING = TEST_TIMING | {"stream_lease_seconds": LEASE, "store_timeout": 0.5}
ANSWER = {"query": "survive the instance", "max_tokens": "500"}  # about 2 s at 10 ms a chunk, within the cap


@contextlib.asynccontextmanager
async def instances(count: int, url: str, logs: Path, **overrides: float) -> AsyncIterator[list[EmbeddedServer]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                embedded_server(TIMING | overrides, logs / f"instance-{n}.log", replay_store=url)
            )
            for n in range(count)
        ]


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=2)
    yield client
    await client.aclose()


def last_event_id(received: Received) -> str:
    return [event.id for event in received.events if event.has_id][-1]


def assert_one_whole_answer(parts: list[Received], baseline: Received) -> None:
    """The parts together: every seq once, the baseline's answer, its checksum, one stream, one trace id."""
    chunks = [chunk for part in parts for chunk in part.of("content_chunk")]
    assert [chunk["seq"] for chunk in chunks] == list(range(len(chunks)))
    answer = "".join(part.content() for part in parts)
    assert answer == baseline.content()
    complete = parts[-1].of("complete")[0]
    assert (complete["reason"], complete["total_chunks"]) == ("finished", len(chunks))
    assert complete["content_sha256"] == hashlib.sha256(answer.encode()).hexdigest()
    assert len({part.headers["x-stream-id"] for part in parts}) == 1
    assert len({part.headers["x-trace-id"] for part in parts}) == 1
    payloads = [json.loads(event.data) for part in parts for event in part.events]
    assert {payload["trace_id"] for payload in payloads} == {parts[0].headers["x-trace-id"]}


async def test_a_client_resumes_on_another_instance_after_a_kill(redis_url: str, tmp_path: Path) -> None:
    async with instances(2, redis_url, tmp_path) as (first_instance, second_instance):
        baseline = await read_stream(second_instance.stream_url, ANSWER)
        first = await read_stream(first_instance.stream_url, ANSWER, stop=seq_at_least(30))
        first_instance.process.kill()
        await first_instance.process.wait()
        headers = {"Last-Event-ID": last_event_id(first), "X-Trace-ID": "another-trace"}
        resumed = await read_stream(second_instance.stream_url, ANSWER, headers=headers)
    assert resumed.of("content_chunk"), "the second instance produced the rest"
    assert_one_whole_answer([first, resumed], baseline)
    assert "stream_takeover" in (tmp_path / "instance-1.log").read_text()


async def test_the_cap_counts_from_the_first_start_after_a_takeover(redis_url: str, tmp_path: Path) -> None:
    cap = 2.0
    long_answer = {"query": "longer than the cap", "max_tokens": "4096"}
    async with instances(2, redis_url, tmp_path, stream_max_seconds=cap) as (first_instance, second_instance):
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await read_stream(first_instance.stream_url, long_answer, stop=seq_at_least(60))
        first_instance.process.kill()
        await first_instance.process.wait()
        headers = {"Last-Event-ID": last_event_id(first)}
        resumed = await read_stream(second_instance.stream_url, long_answer, headers=headers)
        elapsed = loop.time() - started
    assert resumed.of("content_chunk"), "the second instance produced until the cap"
    complete = resumed.of("complete")[0]
    assert complete["reason"] == "duration_cap"
    assert cap <= complete["duration"] < cap + 0.2
    assert elapsed < cap + 0.5  # from the second instance's own start it would be at least 0.6 s more


async def test_a_lead_frozen_past_its_lease_writes_nothing_when_it_wakes(
    redis_url: str, redis: Redis, tmp_path: Path
) -> None:
    async with instances(2, redis_url, tmp_path) as (frozen, taking_over):
        baseline = await read_stream(taking_over.stream_url, ANSWER)
        first = await read_stream(frozen.stream_url, ANSWER, stop=seq_at_least(20))
        stream_id = first.headers["x-stream-id"]
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(2 * LEASE)
            headers = {"Last-Event-ID": last_event_id(first)}
            resuming = asyncio.create_task(read_stream(taking_over.stream_url, ANSWER, headers=headers))
            await _wait_for_writer(redis, stream_id, _writer(taking_over))
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        resumed = await resuming
        await _wait_for_line(tmp_path / "instance-0.log", "stream_lease_lost")
        entries = await redis.xrange(f"sse:{{{stream_id}}}:log")
    assert_one_whole_answer([first, resumed], baseline)
    assert [entry_id for entry_id, _ in entries] == [f"{seq}-1".encode() for seq in range(len(entries))]
    writers = [fields[b"writer"].decode() for _, fields in entries]
    took_over_at = writers.index(_writer(taking_over))
    assert set(writers[:took_over_at]) == {_writer(frozen)}
    assert set(writers[took_over_at:]) == {_writer(taking_over)}


async def test_a_redis_outage_ends_open_streams_and_service_resumes_by_itself(tmp_path: Path) -> None:
    require_redis()
    async with (
        running_redis(tmp_path / "redis") as store,
        instances(1, store.url, tmp_path) as (server,),
        httpx.AsyncClient(timeout=5) as http,
    ):
        reading = asyncio.create_task(read_stream(server.stream_url, ANSWER))
        await _wait_for_content_sent(server, http)
        await store.stop()
        cut = await reading
        assert cut.of("content_chunk")
        assert cut.kinds[-1] == "error"
        error = cut.of("error")[-1]
        assert (error["code"], error["retryable"], error["trace_id"]) == (
            "store_unavailable", True, cut.headers["x-trace-id"]
        )  # fmt: skip
        await _assert_refused_with_503(http, server, {})
        await _assert_refused_with_503(http, server, {"Last-Event-ID": last_event_id(cut)})
        health = await http.get(f"{server.base_url}/healthz")
        assert (health.status_code, health.json()["status"]) == (503, "store_unavailable")
        await store.start()
        await _wait_until_healthy(http, server)
        whole = await read_stream(server.stream_url, ANSWER)
    assert whole.of("complete")[0]["reason"] == "finished"


async def test_a_redis_that_stops_answering_ends_open_streams_without_hanging(tmp_path: Path) -> None:
    require_redis()
    async with (
        running_redis(tmp_path / "redis") as store,
        instances(1, store.url, tmp_path) as (server,),
        httpx.AsyncClient(timeout=5) as http,
    ):
        reading = asyncio.create_task(read_stream(server.stream_url, ANSWER, deadline=5))
        await _wait_for_content_sent(server, http)
        store.send_signal(signal.SIGSTOP)
        try:
            cut = await reading
            assert (cut.kinds[-1], cut.of("error")[-1]["code"]) == ("error", "store_unavailable")
            await _assert_refused_with_503(http, server, {})
        finally:
            store.send_signal(signal.SIGCONT)
        await _wait_until_healthy(http, server)
        whole = await read_stream(server.stream_url, ANSWER)
    assert whole.of("complete")[0]["reason"] == "finished"


async def _assert_refused_with_503(http: httpx.AsyncClient, server: EmbeddedServer, headers: dict[str, str]) -> None:
    refused = await http.get(server.stream_url, params=ANSWER, headers=headers | {"X-Trace-ID": "outage-trace"})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "store_unavailable"
    assert refused.json()["trace_id"] == "outage-trace"


async def _wait_for_content_sent(server: EmbeddedServer, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(5):
        while not await metric(server, 'sse_events_sent_total{type="content_chunk"}', http):
            await asyncio.sleep(0.02)


async def _wait_until_healthy(http: httpx.AsyncClient, server: EmbeddedServer) -> None:
    async with asyncio.timeout(5):
        while (await http.get(f"{server.base_url}/healthz")).status_code != 200:
            await asyncio.sleep(0.05)


def _writer(instance: EmbeddedServer) -> str:
    return f"{socket.gethostname()}:{instance.process.pid}"


async def _wait_for_writer(redis: Redis, stream_id: str, writer: str) -> None:
    async with asyncio.timeout(5):
        while True:
            newest = await redis.xrevrange(f"sse:{{{stream_id}}}:log", count=1)
            if newest and newest[0][1][b"writer"].decode() == writer:
                return
            await asyncio.sleep(0.02)


async def _wait_for_line(path: Path, text: str) -> None:
    async with asyncio.timeout(5):
        while text not in await asyncio.to_thread(path.read_text):
            await asyncio.sleep(0.05)
