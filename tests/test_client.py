"""The robust client against servers that cut, stall and misbehave on command."""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.client import Callbacks, ClientResult, ClientSettings, Outcome, RobustClient, State
from harness.embedded import EmbeddedServer
from harness.history import History, Kind
from harness.profile import DEFAULT_PROFILE, TargetProfile, load_profile
from harness.transport import new_http_client
from tests.helpers.raw_server import SSE_HEAD, raw_server, scripted, unavailable_on_resume

pytestmark = pytest.mark.asyncio


async def run_client(url: str, **settings: object) -> tuple[RobustClient, History, Outcome]:
    history = History()
    options = {"max_attempts": 5, "deadline": 5.0, "backoff_initial": 0.01} | settings
    async with new_http_client() as http:
        client = RobustClient("c", ClientSettings(url, **options), history, http)  # type: ignore[arg-type]
        result = await client.run()
    return client, history, result.outcome


def sent_headers(history: History) -> list[dict[str, str]]:
    return [json.loads(r.detail) for r in history.of_kind(Kind.ATTEMPT)]


async def test_resumes_after_a_cut_with_last_event_id_and_trace_id() -> None:
    handler = scripted(
        b"id: s:0\ndata: a\n\nid: s:1\ndata: b\n\nid: s:2\ndata: partial",
        b"id: s:2\ndata: c\n\nevent: complete\ndata: {}\n\n",
    )
    async with raw_server(handler) as url:
        client, history, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE
    assert sent_headers(history) == [{}, {"Last-Event-ID": "s:1", "X-Trace-ID": "t-1"}]
    assert [r.data for r in history.of_kind(Kind.EVENT)] == ["a", "b", "c", "{}"]
    assert client.connection == 1


async def test_the_first_trace_id_is_sent_on_every_reconnection() -> None:
    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        head = SSE_HEAD.replace("t-1", f"t-{number}")  # a server that forgot the stream's trace id
        writer.write(head.format(ctype="text/event-stream").encode())
        writer.write(b"data: a\n\n" if number < 3 else b"event: complete\ndata: x\n\n")
        await writer.drain()

    async with raw_server(handler) as url:
        client, history, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE
    assert [h.get("X-Trace-ID") for h in sent_headers(history)] == [None, "t-0", "t-0", "t-0"]
    assert client.trace_id == "t-0"


async def test_an_empty_id_clears_the_last_event_id_sent_on_resume() -> None:
    async with raw_server(scripted(b"id: s:0\ndata: a\n\nid\ndata: b\n\n", b"event: complete\ndata: x\n\n")) as url:
        _, history, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE
    assert sent_headers(history) == [{}, {"X-Trace-ID": "t-1"}]


async def test_backoff_waits_at_least_the_servers_retry() -> None:
    async with raw_server(scripted(b"retry: 300\ndata: a\n\n", b"event: complete\ndata: x\n\n")) as url:
        client, history, outcome = await run_client(url, backoff_initial=0.001)
    assert outcome == Outcome.COMPLETE
    cut, second_attempt = history.of_kind(Kind.ERROR)[0], history.of_kind(Kind.ATTEMPT)[1]
    assert (second_attempt.t_ns - cut.t_ns) / 1e9 >= 0.3
    assert client.retry_ms == 300


@pytest.mark.parametrize(
    ("retryable", "outcome", "connections"), [(True, Outcome.COMPLETE, 2), (False, Outcome.ERROR, 1)]
)
async def test_an_error_event_reconnects_only_when_retryable(
    retryable: bool, outcome: Outcome, connections: int
) -> None:
    error = json.dumps({"code": "overloaded", "message": "try again", "retryable": retryable})
    messages: list[str] = []

    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode())
        writer.write(f"event: error\ndata: {error}\n\n".encode() if number == 0 else b"event: complete\ndata: x\n\n")
        await writer.drain()
        await asyncio.sleep(1)  # the client, not the end of the body, must end this connection

    async with raw_server(handler) as url, new_http_client() as http:
        settings = ClientSettings(url, max_attempts=5, deadline=5, backoff_initial=0.01)
        client = RobustClient("c", settings, History(), http, callbacks=Callbacks(on_error=messages.append))
        result = await client.run()
    assert (result.outcome, result.connections) == (outcome, connections)
    assert messages == ["overloaded: try again"]


async def test_an_error_event_s_words_reach_the_outcome_escaped_and_bounded() -> None:
    error = json.dumps({"code": "x\x1b[2J", "message": "line\nbreak" + "z" * 500, "retryable": False})
    async with raw_server(scripted(f"event: error\ndata: {error}\n\n".encode())) as url:
        _, history, outcome = await run_client(url)
    detail = history.of_kind(Kind.OUTCOME)[0].detail
    assert outcome == Outcome.ERROR
    assert detail.startswith("non-retryable error event: x\\x1b[2J: line\\nbreakzzz")
    assert detail.endswith("z…")
    assert len(detail) < 250


async def test_cancelling_a_client_leaves_no_task_or_socket_behind() -> None:
    server_saw_close = asyncio.Event()

    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode())
        try:
            while True:
                writer.write(b": ping\n\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            server_saw_close.set()

    tasks_before = asyncio.all_tasks()
    connected = asyncio.Event()
    history = History()

    def on_state(state: State) -> None:
        if state == State.CONNECTED:
            connected.set()

    async with raw_server(handler) as url, new_http_client() as http:
        client = RobustClient(
            "c", ClientSettings(url, deadline=30), history, http, callbacks=Callbacks(on_state=on_state)
        )
        running = asyncio.create_task(client.run())
        await asyncio.wait_for(connected.wait(), 5)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await asyncio.wait_for(server_saw_close.wait(), 5)  # the client's socket is closed
        async with asyncio.timeout(5):
            while asyncio.all_tasks() - tasks_before:  # the server's handler task is ending
                await asyncio.sleep(0.01)
    assert client.state == State.DISCONNECTED
    assert history.of_kind(Kind.OUTCOME)[-1].outcome == Outcome.CANCELLED


async def test_duplicate_ids_are_dropped_and_recorded() -> None:
    async with raw_server(
        scripted(b"id: s:0\ndata: a\n\n", b"id: s:0\ndata: a\n\nevent: complete\ndata: x\n\n")
    ) as url:
        _, history, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE
    assert [r.event_id for r in history.of_kind(Kind.DUPLICATE)] == ["s:0"]


async def test_silence_triggers_reconnection() -> None:
    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode())
        if number == 0:
            writer.write(b"id: s:0\ndata: a\n\n")
            await writer.drain()
            await asyncio.sleep(2)  # stall without closing
        else:
            writer.write(b"event: complete\ndata: x\n\n")
            await writer.drain()

    async with raw_server(handler) as url:
        _, history, outcome = await run_client(url, silence_threshold=0.2)
    assert outcome == Outcome.COMPLETE
    errors = [r.detail for r in history.of_kind(Kind.ERROR)]
    assert errors[0].startswith("silence: no byte for 0.2 s")


@pytest.mark.parametrize(
    ("status_line", "ctype", "expected"),
    [
        ("HTTP/1.1 204 No Content", "text/event-stream", "204"),
        ("HTTP/1.1 503 Service Unavailable", "text/event-stream", "HTTP 503"),
        ("HTTP/1.1 200 OK", "text/html", "'text/html'"),
        ("HTTP/1.1 200 OK", "text/event-streamx", "not text/event-stream"),
    ],
)
async def test_bad_status_or_content_type_fails_for_good(status_line: str, ctype: str, expected: str) -> None:
    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(f"{status_line}\r\nContent-Type: {ctype}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()

    async with raw_server(handler) as url:
        client, history, outcome = await run_client(url)
    assert outcome == Outcome.HTTP_ERROR
    assert expected in history.of_kind(Kind.OUTCOME)[0].detail
    assert client.connection == 0


async def test_a_503_to_a_resume_is_retried_like_a_cut() -> None:
    """Behind a balancer, a stream under way may meet a draining instance or an unavailable store."""
    async with raw_server(unavailable_on_resume) as url:
        _, history, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE
    assert [r.status for r in history.of_kind(Kind.RESPONSE)] == [200, 503, 503, 200]
    assert [h.get("Last-Event-ID") for h in sent_headers(history)] == [None, "s:0", "s:0", "s:0"]
    assert history.of_kind(Kind.ERROR)[1].detail == "the server answered HTTP 503 while the stream was under way"


async def test_media_type_compared_case_insensitively() -> None:
    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(
            SSE_HEAD.format(ctype="Text/Event-Stream; charset=UTF-8").encode() + b"event: complete\ndata: x\n\n"
        )
        await writer.drain()

    async with raw_server(handler) as url:
        _, _, outcome = await run_client(url)
    assert outcome == Outcome.COMPLETE


async def test_gives_up_after_max_attempts_and_reports_states() -> None:
    states: list[State] = []

    async with raw_server(scripted(b": hello\n\n")) as url, new_http_client() as http:
        settings = ClientSettings(url, max_attempts=3, deadline=5, backoff_initial=0.01)
        client = RobustClient("c", settings, History(), http, callbacks=Callbacks(on_state=states.append))
        result = await client.run()
    assert result.outcome == Outcome.GAVE_UP
    assert result.connections == 3
    assert states[0] == State.CONNECTING
    assert State.RECONNECTING in states
    assert states[-1] == State.DISCONNECTED


async def test_deadline_ends_a_client_whose_server_never_answers() -> None:
    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with raw_server(handler) as url:
        _, _, outcome = await run_client(url, deadline=0.3)
    assert outcome == Outcome.DEADLINE


async def test_reference_stream_end_to_end_with_callbacks(server: EmbeddedServer) -> None:
    content: list[str] = []
    beats: list[object] = []
    callbacks = Callbacks(on_content=lambda e: content.append(json.loads(e.data)["content"]), on_heartbeat=beats.append)
    async with new_http_client() as http:
        settings = ClientSettings(server.stream_url, {"query": "cb", "max_tokens": "80"}, deadline=10)
        client = RobustClient("c", settings, History(), http, callbacks=callbacks)
        result = await client.run()
    assert result.outcome == Outcome.COMPLETE
    assert content
    assert beats
    assert client.silence_threshold == 0.6  # adopted from X-Silence-Threshold
    assert client.retry_ms == 20


# --- other dialects --------------------------------------------------------------------------------


async def run_with(url: str, profile: TargetProfile, **settings: object) -> tuple[History, ClientResult]:
    history = History()
    options = {"max_attempts": 3, "deadline": 5.0, "backoff_initial": 0.01} | settings
    async with new_http_client() as http:
        client = RobustClient("c", ClientSettings(url, **options), history, http, profile)  # type: ignore[arg-type]
        return history, await client.run()


async def test_a_client_of_a_server_that_restarts_asks_afresh_each_time() -> None:
    seen: list[dict[str, str]] = []
    bodies = (b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n", b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nevent: done\ndata: x\n\n")

    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        seen.append(headers)
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode() + bodies[min(number, 1)])
        await writer.drain()

    async with raw_server(handler) as url:
        history, result = await run_with(url, load_profile("comment-heartbeats", ["trace_header=X-Trace-ID"]))
    assert (result.outcome, result.connections) == (Outcome.COMPLETE, 2)
    assert not any("last-event-id" in headers or "x-trace-id" in headers for headers in seen)
    assert history.of_kind(Kind.DUPLICATE) == []  # the ids of the new attempt are new to it
    assert len(history.of_kind(Kind.EVENT)) == 5


async def test_a_post_carries_its_json_body_and_a_data_sentinel_ends_the_stream() -> None:
    seen: list[dict[str, str]] = []

    async def handler(number: int, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        seen.append(headers)
        writer.write(SSE_HEAD.format(ctype="text/event-stream").encode() + b'data: {"a": 1}\n\ndata: [DONE]\n\n')
        await writer.drain()
        await asyncio.sleep(1)  # the sentinel, not the end of the body, ends the stream

    body = json.dumps({"stream": True})
    async with raw_server(handler) as url:
        _history, result = await run_with(
            url, load_profile("openai-chat"), method="POST", body=body, headers={"Content-Type": "application/json"}
        )
    assert (result.outcome, result.detail, result.connections) == (Outcome.COMPLETE, "the end sentinel", 1)
    assert (seen[0]["content-length"], seen[0]["content-type"]) == (str(len(body)), "application/json")


async def test_an_error_object_in_the_data_is_the_server_s_error_said_escaped() -> None:
    error = b'data: {"error": {"type": "server_error", "message": "bad\\nthing"}}\n\n'
    async with raw_server(scripted(error)) as url:
        _history, result = await run_with(url, load_profile("openai-chat"))
    assert (result.outcome, result.detail) == (Outcome.ERROR, "non-retryable error event: server_error: bad\\nthing")


@pytest.mark.parametrize(
    ("body", "outcome", "connections"),
    [(b"data: a\n\ndata: b\n\n", Outcome.COMPLETE, 1), (b"data: a\n\ndata: cut", Outcome.GAVE_UP, 3)],
)
async def test_a_clean_close_ends_the_stream_when_the_profile_says_so(
    body: bytes, outcome: Outcome, connections: int
) -> None:
    async with raw_server(scripted(body)) as url:
        _history, result = await run_with(url, load_profile(None, ["ends_on_close=true"]))
    assert (result.outcome, result.connections) == (outcome, connections)
    async with raw_server(scripted(b"data: a\n\n")) as url:
        _history, result = await run_with(url, DEFAULT_PROFILE)
    assert result.outcome == Outcome.GAVE_UP  # by default, a close is a cut
