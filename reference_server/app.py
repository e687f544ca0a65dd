"""The Quart application: `GET /stream/search` and its companions, per shared PROTOCOL.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

from quart import Quart, Response, make_response, request
from werkzeug.exceptions import HTTPException

from reference_server.answer import AnswerRequest
from reference_server.config import ServerConfig
from reference_server.metrics import ServerMetrics
from reference_server.page import PAGE_FILE, PAGE_HEADERS, STATIC_DIR
from reference_server.streams import LogicalStream, ReplayGap, StreamRegistry, TooManyStreams
from reference_server.tracing import trace_id_from_headers
from reference_server.wire import encode_event, encode_retry

log = logging.getLogger("reference_server")

_USER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_LAST_EVENT_ID = re.compile(r"([0-9a-f]{16}):([0-9]{1,9})")
_MAX_LAST_EVENT_ID_CHARS = 64
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 120
DEFAULT_TEMPERATURE = 0.7


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamRequest:
    answer: AnswerRequest
    user_id: str | None


@dataclass(frozen=True)
class Resume:
    stream_id: str
    seq: int


def create_app(config: ServerConfig) -> Quart:
    app = Quart(__name__, static_folder=str(STATIC_DIR))
    metrics = ServerMetrics()
    registry = StreamRegistry(config, metrics)
    app.config["SSE_REGISTRY"] = registry

    @app.get("/")
    async def search_page() -> Response:
        return await app.send_static_file(PAGE_FILE)

    @app.after_request
    async def page_security(response: Response) -> Response:
        if request.path == "/" or request.path.startswith("/static/"):
            response.headers.update(PAGE_HEADERS)
        return response

    @app.get("/healthz")
    async def healthz() -> Response:
        status = "draining" if registry.draining else "ok"
        return _json({"status": status, "open_connections": registry.open_connections}, 200)

    @app.get("/metrics")
    async def metrics_page() -> Response:
        return Response(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.route("/stream/search", methods=["GET"])
    async def stream_search() -> Response:
        trace_id = trace_id_from_headers(request.headers.get("X-Trace-ID"), request.headers.get("traceparent"))
        try:
            parsed = parse_stream_request(request.args, config)
        except BadRequest as bad:
            metrics.rejected.labels(reason=bad.code).inc()
            return _error(400, bad.code, str(bad), trace_id)
        if registry.draining:
            metrics.rejected.labels(reason="shutting_down").inc()
            return _error(503, "shutting_down", "the server is shutting down", trace_id, retry_after=1)
        if request.method == "HEAD":
            return Response("", headers=_stream_headers(config, trace_id, None))
        last_event_id = request.headers.get("Last-Event-ID", "")
        if last_event_id:
            return await _resume(last_event_id, trace_id)
        try:
            stream = registry.create(parsed.answer, parsed.user_id, trace_id)
        except TooManyStreams as full:
            metrics.rejected.labels(reason="too_many_streams").inc()
            return _error(429, "too_many_streams", str(full), trace_id, retry_after=1)
        _log_stream("stream_start", stream, query_chars=len(parsed.answer.query))
        return await _stream_response(stream, after_seq=-1)

    async def _resume(last_event_id: str, trace_id: str) -> Response:
        try:
            position = parse_last_event_id(last_event_id)
        except BadRequest as bad:
            return await _error_stream(bad.code, str(bad), trace_id)
        stream = registry.get(position.stream_id)
        if stream is None:
            return await _error_stream("unknown_stream", "no resumable stream with that id", trace_id)
        if position.seq > stream.last_seq:
            return await _error_stream("bad_last_event_id", "that event was never sent", trace_id)
        after = position.seq
        if stream.terminal is not None and after >= stream.terminal.seq:
            after = stream.terminal.seq - 1
        try:
            stream.events_after(after)
        except ReplayGap as gap:
            return await _error_stream("unknown_stream", str(gap), trace_id)
        metrics.resumes.inc()
        _log_stream("stream_resume", stream, after_seq=after)
        return await _stream_response(stream, after_seq=after)

    async def _stream_response(stream: LogicalStream, after_seq: int) -> Response:
        body = connection_body(stream, registry, after_seq)
        response = await make_response(body, 200, _stream_headers(config, stream.trace_id, stream.stream_id))
        response.timeout = None  # Quart's 60 s RESPONSE_TIMEOUT would cut long streams
        return response

    async def _error_stream(code: str, message: str, trace_id: str) -> Response:
        metrics.rejected.labels(reason=code).inc()
        metrics.events_sent.labels(type="error").inc()
        body = encode_retry(config.retry_ms) + encode_event(
            "error", {"stream_id": None, "trace_id": trace_id, "code": code, "message": message, "retryable": False}
        )
        return Response(body, 200, _stream_headers(config, trace_id, None))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        code = (error.name or "error").lower().replace(" ", "_")
        return _error(error.code or 500, code, error.description or code, trace_id_from_headers(None, None))

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> Response:
        log.exception("unexpected error")
        return _error(500, "internal_error", "the server failed to handle this request", None)

    return app


async def connection_body(stream: LogicalStream, registry: StreamRegistry, after_seq: int) -> AsyncIterator[bytes]:
    """One connection's bytes: retry hint, then buffered events and per-connection heartbeats.

    Every frame goes out under a send deadline: Hypercorn has no write timeout, so a client
    that stops reading would hold its connection forever once the socket buffers are full.
    """
    async with contextlib.aclosing(_frames(stream, registry, after_seq)) as frames:
        async for frame in frames:
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
        interval = config.heartbeat_interval
        next_beat = time.monotonic() + interval
        while True:
            if registry.draining:
                yield _shutdown_event(stream)
                metrics.events_sent.labels(type="error").inc()
                return
            now = time.monotonic()
            if now >= next_beat:
                yield encode_event("heartbeat", stream.heartbeat_data())
                metrics.events_sent.labels(type="heartbeat").inc()
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
                for event in pending:
                    metrics.events_sent.labels(type=event.kind).inc()
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("event_sent", extra={"fields": {"trace_id": stream.trace_id, "seq": event.seq}})
                sent += len(pending)
                cursor = pending[-1].seq
                if pending[-1] is stream.terminal:
                    return
                await asyncio.sleep(0)  # a real suspension point even if the send never blocks
                continue
            await stream.wait_for_change(seen, next_beat - now)
    finally:
        registry.detach(stream)
        _log_stream("stream_end", stream, events_sent=sent, finished=stream.finished)


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
            _log_stream("stream_dropped", stream, reason="send_timeout")


def parse_stream_request(args: Mapping[str, str], config: ServerConfig) -> StreamRequest:
    get = args.get
    query = get("query", "")
    if not query.strip():
        raise BadRequest("bad_query", "query is required and must not be empty")
    if len(query) > config.max_query_chars:
        raise BadRequest("bad_query", f"query is longer than {config.max_query_chars} characters")
    max_tokens = _int_param(get("max_tokens"), "max_tokens", DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT)
    temperature = _float_param(get("temperature"), "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0)
    user_id = get("user_id")
    if user_id is not None and not _USER_ID.fullmatch(user_id):
        raise BadRequest("bad_user_id", "user_id must be 1-128 characters of [A-Za-z0-9._:@-]")
    return StreamRequest(AnswerRequest(query, max_tokens, temperature), user_id)


def parse_last_event_id(value: str) -> Resume:
    match = _LAST_EVENT_ID.fullmatch(value) if len(value) <= _MAX_LAST_EVENT_ID_CHARS else None
    if match is None:
        raise BadRequest("bad_last_event_id", "Last-Event-ID must look like STREAM_ID:SEQ")
    return Resume(match[1], int(match[2]))


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    return value


def _float_param(raw: str | None, name: str, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails this comparison too
        raise BadRequest(f"bad_{name}", f"{name} must be a number from {low} to {high}")
    return value


def _stream_headers(config: ServerConfig, trace_id: str, stream_id: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Trace-ID": trace_id,
        "X-Stream-Max-Seconds": _seconds(config.stream_max_seconds),
        "X-Heartbeat-Interval": _seconds(config.heartbeat_interval),
        "X-Silence-Threshold": _seconds(config.silence_threshold),
    }
    if stream_id is not None:
        headers["X-Stream-ID"] = stream_id
    return headers


def _seconds(value: float) -> str:
    return f"{value:g}"


def _shutdown_event(stream: LogicalStream) -> bytes:
    return _stream_error(stream, "shutting_down", "the server is shutting down; resume shortly", retryable=True)


def _slow_consumer_event(stream: LogicalStream, reason: str) -> bytes:
    return _stream_error(stream, "slow_consumer", f"the client fell behind: {reason}", retryable=False)


def _stream_error(stream: LogicalStream, code: str, message: str, retryable: bool) -> bytes:
    data = {"stream_id": stream.stream_id, "trace_id": stream.trace_id, "code": code, "message": message}
    return encode_event("error", data | {"retryable": retryable})


def _error(status: int, code: str, message: str, trace_id: str | None, retry_after: int | None = None) -> Response:
    response = _json({"error": code, "message": message, "trace_id": trace_id}, status)
    if trace_id is not None:
        response.headers["X-Trace-ID"] = trace_id
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _json(body: dict[str, object], status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


def _log_stream(message: str, stream: LogicalStream, **extra: object) -> None:
    fields = {"stream_id": stream.stream_id, "trace_id": stream.trace_id} | extra
    log.info(message, extra={"fields": fields})
