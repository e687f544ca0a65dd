"""The reference server against docs/protocol.md, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import signal

import httpx
import pytest

from harness.embedded import EmbeddedServer
from tests.helpers.servers import TEST_TIMING, ServerFactory
from tests.helpers.streaming import metric, read_stream, seq_at_least, wait_for_metric

pytestmark = pytest.mark.asyncio

SHORT = {"query": "what is sse", "max_tokens": "40"}
LONG = {"query": "a long answer", "max_tokens": "4096"}
HEX32 = re.compile(r"[0-9a-f]{32}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_headers_and_retry_line(server: EmbeddedServer) -> None:
    received = await read_stream(server.stream_url, SHORT)
    headers = received.headers
    assert received.status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert HEX32.fullmatch(headers["x-trace-id"])
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-stream-id"])
    assert float(headers["x-stream-max-seconds"]) == TEST_TIMING["stream_max_seconds"]
    assert float(headers["x-heartbeat-interval"]) == TEST_TIMING["heartbeat_interval"]
    assert float(headers["x-silence-threshold"]) == TEST_TIMING["silence_threshold"]
    assert "content-encoding" not in headers
    assert received.raw.startswith(b"retry: 20\n\n")


async def test_events_ids_payloads_and_checksum(server: EmbeddedServer) -> None:
    received = await read_stream(server.stream_url, SHORT)
    stream_id, trace_id = received.headers["x-stream-id"], received.headers["x-trace-id"]
    chunks = received.of("content_chunk")
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert sum(c["tokens"] for c in chunks) == 40
    content_events = [e for e in received.events if e.event == "content_chunk"]
    assert [e.id for e in content_events] == [f"{stream_id}:{n}" for n in range(len(chunks))]
    assert received.kinds[-1] == "complete"
    complete_event = received.events[-1]
    assert complete_event.id == f"{stream_id}:{len(chunks)}"
    complete = received.of("complete")[0]
    assert complete["reason"] == "finished"
    assert complete["total_chunks"] == len(chunks)
    assert complete["total_tokens"] == 40
    assert complete["content_sha256"] == sha256(received.content())
    assert complete["sources"]
    assert all(source["url"].startswith("https://") for source in complete["sources"])
    for event in received.events:
        payload = json.loads(event.data)
        assert (payload["stream_id"], payload["trace_id"]) == (stream_id, trace_id)
        assert "\n" not in event.data


async def test_every_response_names_the_instance_that_answered(server: EmbeddedServer) -> None:
    assert server.process is not None
    pid = str(server.process.pid)  # no INSTANCE_ID given: the process id
    received = await read_stream(server.stream_url, SHORT)
    assert received.headers["x-instance-id"] == pid
    async with httpx.AsyncClient() as http:
        for path in ("/healthz", "/", "/stream/search", "/no-such-page"):
            assert (await http.get(f"{server.base_url}{path}")).headers["x-instance-id"] == pid, path


async def test_answer_is_deterministic(server: EmbeddedServer) -> None:
    first, second = await asyncio.gather(read_stream(server.stream_url, SHORT), read_stream(server.stream_url, SHORT))
    assert first.content() == second.content()
    other = await read_stream(server.stream_url, SHORT | {"temperature": "0.1"})
    assert other.content() != first.content()


async def test_heartbeats_on_a_fixed_period_while_content_flows(server: EmbeddedServer) -> None:
    received = await read_stream(server.stream_url, LONG, stop=lambda r: len(r.of("heartbeat")) >= 5)
    beats = received.of("heartbeat")
    uptimes = [beat["uptime_seconds"] for beat in beats]
    intervals = [b - a for a, b in itertools.pairwise(uptimes)]
    interval = TEST_TIMING["heartbeat_interval"]
    assert all(abs(gap - interval) < 0.05 for gap in intervals), intervals
    assert [beat["heartbeat_count"] for beat in beats] == [1, 2, 3, 4, 5]
    assert all(e.event != "heartbeat" or not e.has_id for e in received.events)
    assert beats[-1]["total_chunks"] > 0
    assert beats[-1]["remaining_seconds"] < TEST_TIMING["stream_max_seconds"]
    assert beats[0]["max_duration"] == TEST_TIMING["stream_max_seconds"]
    assert beats[0]["timestamp"].endswith("Z")


async def test_heartbeats_when_no_content_flows(start_server: ServerFactory) -> None:
    async with start_server(chunk_delay_ms=5000) as slow:
        received = await read_stream(slow.stream_url, SHORT, stop=lambda r: len(r.of("heartbeat")) >= 3)
    assert received.of("content_chunk") == []
    assert len(received.of("heartbeat")) == 3


async def test_cap_holds_across_disconnect_and_resume(start_server: ServerFactory) -> None:
    cap = 1.0
    async with start_server(stream_max_seconds=cap) as capped:
        first = await read_stream(capped.stream_url, LONG, stop=seq_at_least(5))
        await asyncio.sleep(0.3)
        last_id = [e.id for e in first.events if e.has_id][-1]
        resumed = await read_stream(capped.stream_url, LONG, headers={"Last-Event-ID": last_id}, deadline=5)
    complete = resumed.of("complete")[0]
    assert complete["reason"] == "duration_cap"
    assert cap <= complete["duration"] < cap + 0.2
    assert resumed.kinds[-1] == "complete"
    content = first.content() + resumed.content()
    assert complete["content_sha256"] == sha256(content)


async def test_resume_continues_at_next_seq_with_nothing_lost(server: EmbeddedServer) -> None:
    params = {"query": "resume me", "max_tokens": "200"}
    baseline = await read_stream(server.stream_url, params)
    first = await read_stream(server.stream_url, params, stop=seq_at_least(10))
    stream_id, trace_id = first.headers["x-stream-id"], first.headers["x-trace-id"]
    last_seq = first.of("content_chunk")[-1]["seq"]
    await asyncio.sleep(0.2)  # the stream keeps generating while we are away
    resumed = await read_stream(server.stream_url, params, headers={"Last-Event-ID": f"{stream_id}:{last_seq}"})
    assert resumed.headers["x-stream-id"] == stream_id
    assert resumed.headers["x-trace-id"] == trace_id
    assert resumed.of("content_chunk")[0]["seq"] == last_seq + 1
    chunks = first.of("content_chunk") + resumed.of("content_chunk")
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    answer = first.content() + resumed.content()
    assert answer == baseline.content()
    assert resumed.of("complete")[0]["content_sha256"] == sha256(answer)


async def test_resume_of_ended_stream_replays_terminal(server: EmbeddedServer) -> None:
    whole = await read_stream(server.stream_url, SHORT)
    terminal = whole.events[-1]
    again = await read_stream(server.stream_url, SHORT, headers={"Last-Event-ID": terminal.id})
    assert again.kinds == ["complete"]
    assert again.events[0].data == terminal.data
    stream_id = whole.headers["x-stream-id"]
    rest = await read_stream(server.stream_url, SHORT, headers={"Last-Event-ID": f"{stream_id}:3"})
    assert next(c["seq"] for c in rest.of("content_chunk")) == 4
    assert rest.kinds[-1] == "complete"


@pytest.mark.parametrize(
    ("last_event_id", "code"),
    [
        ("0123456789abcdef:1", "unknown_stream"),
        ("not-an-id", "bad_last_event_id"),
        ("0123456789abcdef:-1", "bad_last_event_id"),
        ("x" * 5000, "bad_last_event_id"),
    ],
)
async def test_bad_resume_gets_one_error_event(server: EmbeddedServer, last_event_id: str, code: str) -> None:
    received = await read_stream(server.stream_url, SHORT, headers={"Last-Event-ID": last_event_id})
    assert received.status == 200
    assert received.kinds == ["error"]
    error = received.of("error")[0]
    assert error["code"] == code
    assert error["retryable"] is False
    assert last_event_id not in received.raw.decode()


async def test_resume_beyond_what_was_sent_is_rejected(server: EmbeddedServer) -> None:
    first = await read_stream(server.stream_url, SHORT, stop=seq_at_least(1))
    received = await read_stream(
        server.stream_url, SHORT, headers={"Last-Event-ID": f"{first.headers['x-stream-id']}:999999"}
    )
    assert received.of("error")[0]["code"] == "bad_last_event_id"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"query": ""}, "bad_query"),
        ({"query": "   "}, "bad_query"),
        ({}, "bad_query"),
        ({"query": "x" * 2001}, "bad_query"),
        ({"query": "q", "max_tokens": "abc"}, "bad_max_tokens"),
        ({"query": "q", "max_tokens": "0"}, "bad_max_tokens"),
        ({"query": "q", "max_tokens": "99999"}, "bad_max_tokens"),
        ({"query": "q", "max_tokens": "١٢"}, "bad_max_tokens"),
        ({"query": "q", "temperature": "nan"}, "bad_temperature"),
        ({"query": "q", "temperature": "-1"}, "bad_temperature"),
        ({"query": "q", "temperature": "inf"}, "bad_temperature"),
        ({"query": "q", "user_id": "<script>"}, "bad_user_id"),
    ],
)
async def test_bad_input_is_a_400_with_json(server: EmbeddedServer, params: dict[str, str], code: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(server.stream_url, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == code
    assert body["message"]
    assert body["trace_id"] == response.headers["x-trace-id"]
    assert "Traceback" not in response.text


async def test_unknown_route_and_method_are_json(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.get(f"{server.base_url}/nope")
        wrong = await http.post(server.stream_url)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


async def test_head_answers_without_streaming(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        response = await http.head(server.stream_url, params=SHORT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize(
    "bad_value",
    ["x" * 10_000, "has space", "<script>alert(1)</script>", "a\tb", "é"],
)
async def test_invalid_trace_id_is_replaced_never_echoed(server: EmbeddedServer, bad_value: str) -> None:
    received = await read_stream(
        server.stream_url, SHORT, headers={"X-Trace-ID": bad_value.encode()}, stop=seq_at_least(0)
    )
    assert HEX32.fullmatch(received.headers["x-trace-id"])
    assert bad_value.encode() not in received.raw


async def test_trace_id_header_with_raw_cr_is_not_echoed(server: EmbeddedServer) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /stream/search?query=q HTTP/1.1\r\nHost: x\r\nX-Trace-ID: abc\rEvil: 1\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.read(4096), 2)
    writer.close()
    assert b"Evil" not in head
    assert b"abc\r" not in head


async def test_valid_trace_ids_are_kept(server: EmbeddedServer) -> None:
    mine = await read_stream(server.stream_url, SHORT, headers={"X-Trace-ID": "req-42.a:b"})
    assert mine.headers["x-trace-id"] == "req-42.a:b"
    assert {c["trace_id"] for c in mine.of("content_chunk")} == {"req-42.a:b"}
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    w3c = await read_stream(server.stream_url, SHORT, headers={"traceparent": traceparent})
    assert w3c.headers["x-trace-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "garbage",
    ],
)
async def test_invalid_traceparent_is_ignored(server: EmbeddedServer, traceparent: str) -> None:
    received = await read_stream(server.stream_url, SHORT, headers={"traceparent": traceparent}, stop=seq_at_least(0))
    trace_id = received.headers["x-trace-id"]
    assert HEX32.fullmatch(trace_id)
    assert trace_id not in traceparent.lower()


async def test_stream_limits_answer_429(start_server: ServerFactory) -> None:
    async with (
        start_server(max_streams_per_user=2, max_streams=3) as limited,
        httpx.AsyncClient() as http,
        contextlib.AsyncExitStack() as held,
    ):
        for user in ("u1", "u1"):
            await held.enter_async_context(http.stream("GET", limited.stream_url, params=LONG | {"user_id": user}))
        per_user = await http.get(limited.stream_url, params=LONG | {"user_id": "u1"})
        await held.enter_async_context(http.stream("GET", limited.stream_url, params=LONG | {"user_id": "u2"}))
        global_limit = await http.get(limited.stream_url, params=LONG | {"user_id": "u3"})
    assert per_user.status_code == 429
    assert per_user.json()["error"] == "too_many_streams"
    assert per_user.headers["retry-after"] == "1"
    assert global_limit.status_code == 429
    assert "server" in global_limit.json()["message"]


async def test_disconnect_is_cleaned_up_and_visible_in_metrics(server: EmbeddedServer) -> None:
    await read_stream(server.stream_url, LONG, stop=seq_at_least(2))
    await wait_for_metric(server, "sse_open_connections", 0)
    assert await metric(server, 'sse_events_sent_total{type="content_chunk"}') > 0
    assert await metric(server, "sse_streams_started_total") > 0


async def test_graceful_shutdown_sends_final_event_and_exits(start_server: ServerFactory) -> None:
    async with start_server() as running:
        reader = asyncio.create_task(read_stream(running.stream_url, LONG, deadline=8))
        await wait_for_metric(running, "sse_open_connections", 1)
        started = asyncio.get_running_loop().time()
        running.process.send_signal(signal.SIGTERM)
        received = await reader
        await asyncio.wait_for(running.process.wait(), 5)
        elapsed = asyncio.get_running_loop().time() - started
    assert received.kinds[-1] == "error"
    final = received.of("error")[-1]
    assert (final["code"], final["retryable"]) == ("shutting_down", True)
    assert running.process.returncode == 0
    assert elapsed < 5


async def test_detached_stream_expires_after_resume_ttl(start_server: ServerFactory) -> None:
    async with start_server(stream_resume_ttl=0.3) as short_lived:
        first = await read_stream(short_lived.stream_url, LONG, stop=seq_at_least(1))
        last_id = [e.id for e in first.events if e.has_id][-1]
        await wait_for_metric(short_lived, "sse_logical_streams", 0)
        late = await read_stream(short_lived.stream_url, LONG, headers={"Last-Event-ID": last_id})
    assert late.of("error")[0]["code"] == "unknown_stream"
