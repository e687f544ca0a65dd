"""The Quart application: `GET /stream/search` and its companions, per docs/protocol.md.

The views only decide which response a request gets: request_parsing.py validates the
request, connection.py writes the body of each stream connection.
"""

from __future__ import annotations

import json
import logging

from quart import Quart, Response, make_response, request
from werkzeug.exceptions import HTTPException

from reference_server.config import ServerConfig
from reference_server.connection import connection_body, log_stream
from reference_server.metrics import ServerMetrics
from reference_server.page import PAGE_FILE, PAGE_HEADERS, STATIC_DIR
from reference_server.request_parsing import BadRequest, parse_last_event_id, parse_stream_request
from reference_server.store import open_store
from reference_server.store.base import ReplayGap, StoreUnavailable
from reference_server.streams import LogicalStream, StreamRegistry, TooManyStreams
from reference_server.tracing import trace_id_from_headers
from reference_server.wire import encode_event, encode_retry

log = logging.getLogger("reference_server")


def create_app(config: ServerConfig) -> Quart:
    app = Quart(__name__, static_folder=str(STATIC_DIR))
    metrics = ServerMetrics()
    registry = StreamRegistry(config, metrics, open_store(config))
    app.config["SSE_REGISTRY"] = registry

    @app.get("/")
    async def search_page() -> Response:
        return await app.send_static_file(PAGE_FILE)

    @app.after_request
    async def page_security(response: Response) -> Response:
        if request.path == "/" or request.path.startswith("/static/"):
            response.headers.update(PAGE_HEADERS)
        response.headers["X-Instance-ID"] = config.instance_id
        return response

    @app.get("/healthz")
    async def healthz() -> Response:
        connections = registry.open_connections
        try:
            await registry.store.check()
        except StoreUnavailable:
            return _json({"status": StoreUnavailable.code, "open_connections": connections}, 503)
        return _json({"status": "draining" if registry.draining else "ok", "open_connections": connections}, 200)

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
        try:
            if last_event_id:
                return await _resume(last_event_id, trace_id)
            stream = await registry.create(parsed.answer, parsed.user_id, trace_id)
        except TooManyStreams as full:
            metrics.rejected.labels(reason="too_many_streams").inc()
            return _error(429, "too_many_streams", str(full), trace_id, retry_after=1)
        except StoreUnavailable as down:
            metrics.rejected.labels(reason=down.code).inc()
            return _error(503, down.code, "the replay store is unavailable; retry shortly", trace_id, retry_after=1)
        log_stream("stream_start", stream, query_chars=len(parsed.answer.query))
        return await _stream_response(stream, -1, stream.trace_id)

    async def _resume(last_event_id: str, trace_id: str) -> Response:
        try:
            position = parse_last_event_id(last_event_id)
        except BadRequest as bad:
            return await _error_stream(bad.code, str(bad), trace_id)
        stream = await registry.find(position.stream_id)
        if stream is None:
            return await _error_stream("unknown_stream", "no resumable stream with that id", trace_id)
        if position.seq > stream.last_seq:
            await stream.refresh()
        if position.seq > stream.last_seq:
            return await _error_stream("bad_last_event_id", "that event was never sent", trace_id)
        after = config.behaviour.resume_after(position.seq)
        if stream.terminal is not None and after >= stream.terminal.seq:
            after = stream.terminal.seq - 1
        try:
            stream.events_after(after)
        except ReplayGap as gap:
            return await _error_stream("unknown_stream", str(gap), trace_id)
        metrics.resumes.inc()
        log_stream("stream_resume", stream, after_seq=after)
        return await _stream_response(stream, after, config.behaviour.resumed_trace_id(stream.trace_id))

    async def _stream_response(stream: LogicalStream, after_seq: int, trace_id: str) -> Response:
        body = connection_body(stream, registry, after_seq)
        response = await make_response(body, 200, _stream_headers(config, trace_id, stream.stream_id))
        response.timeout = None  # Quart's 60 s RESPONSE_TIMEOUT would cut long streams
        return response

    async def _error_stream(code: str, message: str, trace_id: str) -> Response:
        metrics.rejected.labels(reason=code).inc()
        metrics.sent("error").inc()
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
    return config.behaviour.response_headers(headers)


def _seconds(value: float) -> str:
    return f"{value:g}"


def _error(status: int, code: str, message: str, trace_id: str | None, retry_after: int | None = None) -> Response:
    response = _json({"error": code, "message": message, "trace_id": trace_id}, status)
    if trace_id is not None:
        response.headers["X-Trace-ID"] = trace_id
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _json(body: dict[str, object], status: int) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
