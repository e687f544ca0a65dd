"""Prometheus metrics of one server instance (its own registry, no process globals)."""

from __future__ import annotations

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
        self.resumes = Counter("sse_resumes", "Successful Last-Event-ID resumes", registry=self.registry)
        self.caps_reached = Counter("sse_caps_reached", "Streams ended by the duration cap", registry=self.registry)
        self.rejected = Counter("sse_rejected_requests", "Requests refused", ["reason"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
