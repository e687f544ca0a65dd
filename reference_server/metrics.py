"""Prometheus metrics of one server instance (its own registry, no process globals)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.open_connections = Gauge(
            "sse_open_connections", "Stream connections currently open", registry=self.registry
        )
        self.logical_streams = Gauge(
            "sse_logical_streams", "Logical streams held (live or resumable)", registry=self.registry
        )
        self.streams_started = Counter("sse_streams_started", "Logical streams created", registry=self.registry)
        self.events_sent = Counter("sse_events_sent", "Events written to connections", ["type"], registry=self.registry)
        self._sent_of: dict[str, Counter] = {}
        self.resumes = Counter("sse_resumes", "Successful Last-Event-ID resumes", registry=self.registry)
        self.caps_reached = Counter("sse_caps_reached", "Streams ended by the duration cap", registry=self.registry)
        self.slow_readers_dropped = Counter(
            "sse_slow_readers_dropped", "Connections dropped: a send outlasted SEND_TIMEOUT", registry=self.registry
        )
        self.rejected = Counter("sse_rejected_requests", "Requests refused", ["reason"], registry=self.registry)
        self.loop_tasks = Gauge(
            "sse_event_loop_tasks", "Tasks alive on the server's event loop (leak detector)", registry=self.registry
        )
        self.loop_tasks.set_function(lambda: len(asyncio.all_tasks()))

    def sent(self, kind: str) -> Counter:
        """`events_sent` of one event type, looked up once: `labels()` costs about ten increments,
        and every idle connection counts a heartbeat each interval."""
        counter = self._sent_of.get(kind)
        if counter is None:
            counter = self._sent_of[kind] = self.events_sent.labels(type=kind)
        return counter

    def render(self) -> bytes:
        return generate_latest(self.registry)
