"""Deterministic test servers for the dialects the shipped profiles speak, each with broken variants.

- `openai`: an OpenAI-compatible chat completions stream (POST, data-only JSON chunks, `[DONE]`);
- `anthropic`: an Anthropic-style messages stream (POST, named events, `ping`, `message_stop`);
- `comment-ping`: `: ping` comments every interval, opaque `data:` tokens, a `done` event;
- `live-feed`: an endless feed of consecutive numeric ids, `: ping` comments, Last-Event-ID resume.

The answer to a request depends only on its query and length. A variant breaks one promise:
`repeat-after-retry` (a request for the answer of a broken connection first repeats what that
connection had sent), `no-sentinel` (the answer is cut short, without `[DONE]`),
`no-message-stop`, `no-done` (the terminal event is missing), `late-pings` (every 1.5 intervals),
`resume-repeats` and `resume-skips` (a feed resumes at the last id again, or one past the next).

`dialect_server(dialect, variant)` serves one on a free port of 127.0.0.1 and stops every
connection it started when its block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN_SECONDS = 0.01
PING_SECONDS = 0.2  # the comment pings' interval (the tests' heartbeat interval)
FEED_SECONDS = 0.02  # one feed event every this long
_HEAD_SECONDS = 5.0
_STOP_SECONDS = 2.0
# a feed event as long as a hub's (the catalogue's cuts count bytes)
_FEED_NOTE = "an event of an endless feed, numbered from the server's start"
_MAX_BODY = 1 << 20
_WORDS = (" streams", " survive", " chaos", " 流れ", " は", " 続く", " 🌊", " whole", ",", " once")
DIALECTS = ("openai", "anthropic", "comment-ping", "live-feed")
VARIANTS = {
    "openai": ("repeat-after-retry", "no-sentinel"),
    "anthropic": ("repeat-after-retry", "no-message-stop"),
    "comment-ping": ("no-done", "late-pings"),
    "live-feed": ("resume-repeats", "resume-skips"),
}


def answer_tokens(query: str, max_tokens: int) -> list[str]:
    """The answer: `max_tokens` tokens, Latin, Japanese and an emoji, chosen by the query."""
    return [_WORDS[(index * 7 + len(query)) % len(_WORDS)] for index in range(max_tokens)]


@dataclass
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any  # the JSON body, None without one


class BadRequest(Exception):
    pass


@dataclass
class _State:
    """What a server remembers: request numbers (trace ids), and for `repeat-after-retry` the
    tokens a broken connection had sent, per query."""

    variant: str | None
    numbers: itertools.count[int] = field(default_factory=itertools.count)
    broken: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


Handler = Callable[[HttpRequest, asyncio.StreamWriter, _State], Awaitable[None]]


async def _send(writer: asyncio.StreamWriter, data: str) -> None:
    writer.write(data.encode())
    await writer.drain()


def _head(extra: str = "") -> str:
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    return f"{head}{extra}Connection: close\r\n\r\n"


async def _refuse(writer: asyncio.StreamWriter, message: str) -> None:
    body = json.dumps({"error": {"type": "invalid_request_error", "message": message}})
    await _send(
        writer,
        f"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}",
    )


def _chat_request(request: HttpRequest) -> tuple[str, int]:
    """The query and length of a chat request (OpenAI's and Anthropic's bodies alike)."""
    body = request.body
    if request.method != "POST" or not isinstance(body, dict) or body.get("stream") is not True:
        raise BadRequest("POST a JSON body with stream = true")
    messages, max_tokens = body.get("messages"), body.get("max_tokens")
    if not isinstance(messages, list) or not messages or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("messages and max_tokens are required")
    return str(messages[-1].get("content", "")), max_tokens


async def _stream_answer(
    writer: asyncio.StreamWriter, state: _State, query: str, tokens: list[str], event: Callable[[str], str]
) -> None:
    """Each token as `event(token)`, paced; under `repeat-after-retry`, what a broken connection
    for the same query had sent comes first, and what this one sends is kept if it breaks."""
    replayed = state.broken.pop(query, []) if state.variant == "repeat-after-retry" else []
    sent: list[str] = []
    try:
        for token in [*replayed, *tokens]:
            await _send(writer, event(token))
            sent.append(token)
            await asyncio.sleep(TOKEN_SECONDS)
    except (ConnectionError, asyncio.CancelledError):
        if sent:
            state.broken[query] = sent
        raise


async def openai(request: HttpRequest, writer: asyncio.StreamWriter, state: _State) -> None:
    query, max_tokens = _chat_request(request)
    number = next(state.numbers)

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "choices": [choice]}
        return f"data: {json.dumps(data)}\n\n"

    await _send(writer, _head(f"x-request-id: req-{number}\r\n") + chunk({"role": "assistant"}))
    tokens = answer_tokens(query, max_tokens)
    if state.variant == "no-sentinel":
        await _stream_answer(writer, state, query, tokens[: max_tokens // 2], lambda t: chunk({"content": t}))
        return
    await _stream_answer(writer, state, query, tokens, lambda token: chunk({"content": token}))
    await _send(writer, chunk({}, "stop") + "data: [DONE]\n\n")


def _named(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def anthropic(request: HttpRequest, writer: asyncio.StreamWriter, state: _State) -> None:
    query, max_tokens = _chat_request(request)
    number = next(state.numbers)
    message = {"id": f"msg_{number}", "type": "message", "role": "assistant", "content": [], "stop_reason": None}
    start = _named("message_start", {"type": "message_start", "message": message})
    start += _named("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {}})
    await _send(writer, _head(f"request-id: req_{number}\r\n") + start + _named("ping", {"type": "ping"}))

    def delta(token: str) -> str:
        block = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}}
        return _named("content_block_delta", block)

    await _stream_answer(writer, state, query, answer_tokens(query, max_tokens), delta)
    end = _named("content_block_stop", {"type": "content_block_stop", "index": 0})
    end += _named("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
    if state.variant != "no-message-stop":
        end += _named("message_stop", {"type": "message_stop"})
    await _send(writer, end)


async def comment_ping(request: HttpRequest, writer: asyncio.StreamWriter, state: _State) -> None:
    """Tokens in opaque `data:` lines (as long as the reference's events: the catalogue's cuts
    count bytes) every TOKEN_SECONDS, `: ping` every interval from the body's start."""
    query, max_tokens = request.params.get("query", ""), int(request.params.get("max_tokens", "20"))
    interval = PING_SECONDS * (1.5 if state.variant == "late-pings" else 1.0)
    await _send(writer, _head(f"X-Request-ID: req-{next(state.numbers)}\r\n"))
    next_ping = time.monotonic() + interval
    for index, token in enumerate(answer_tokens(query, max_tokens)):
        if time.monotonic() >= next_ping:
            await _send(writer, ": ping\n\n")
            next_ping += interval
        await _send(writer, f"data: {json.dumps({'index': index, 'text': token, 'note': 'opaque to the harness'})}\n\n")
        await asyncio.sleep(TOKEN_SECONDS)
    if state.variant != "no-done":
        await _send(writer, "event: done\ndata: end\n\n")


async def live_feed(request: HttpRequest, writer: asyncio.StreamWriter, state: _State) -> None:
    """Event n is due FEED_SECONDS * n after the server started; a client without Last-Event-ID
    joins at the current one, a resume gets every event after its last (the variants: one too
    early, or one skipped), then the live ones; a ping every interval from the body's start."""
    last = request.headers.get("last-event-id", "")
    due = _feed_position(state)
    if last.isdigit():
        due = int(last) + {"resume-repeats": 0, "resume-skips": 2}.get(state.variant or "", 1)
    await _send(writer, _head() + "retry: 20\n\n")
    next_ping = time.monotonic() + PING_SECONDS
    while True:
        while due <= _feed_position(state):
            await _send(writer, f"id: {due}\ndata: {json.dumps({'tick': due, 'note': _FEED_NOTE})}\n\n")
            due += 1
        if time.monotonic() >= next_ping:
            await _send(writer, ": ping\n\n")
            next_ping += PING_SECONDS
        next_event = state.started + due * FEED_SECONDS
        await asyncio.sleep(max(0.0, min(next_event, next_ping) - time.monotonic()))


def _feed_position(state: _State) -> int:
    return int((time.monotonic() - state.started) / FEED_SECONDS)


HANDLERS: dict[str, Handler] = {
    "openai": openai,
    "anthropic": anthropic,
    "comment-ping": comment_ping,
    "live-feed": live_feed,
}


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_SECONDS)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)
    }
    length = int(headers.get("content-length", "0"))
    if length > _MAX_BODY:
        raise BadRequest("body too long")
    raw = await asyncio.wait_for(reader.readexactly(length), _HEAD_SECONDS) if length else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    url = urlsplit(target)
    return HttpRequest(method, url.path, dict(parse_qsl(url.query)), headers, body)


@asynccontextmanager
async def dialect_server(dialect: str, variant: str | None = None) -> AsyncIterator[str]:
    """Serve `dialect` (as `variant`) on a free port; yields its base URL."""
    handler, state = HANDLERS[dialect], _State(variant)
    connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections[task] = writer
        try:
            await _answer(reader, writer, handler, state)
        finally:
            del connections[task]
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in connections.values():  # a handler's next write fails: it ends
            writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_SECONDS):
                await asyncio.gather(*connections, return_exceptions=True)
        for task in connections:
            task.cancel()
        await server.wait_closed()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler, state: _State) -> None:
    with contextlib.suppress(ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        try:
            request = await _read_request(reader)
            await handler(request, writer, state)
        except (BadRequest, ValueError) as error:
            await _refuse(writer, str(error))
