"""When the browser received each byte of a page's stream, and how late the page read it.

A page stamps what it reads, but bytes can wait inside Chromium before the page's reader gets them
(the renderer busy, or descheduled on a loaded machine) without the page's own loop showing any
lag. The DevTools protocol reports when the browser received each piece of a response
(`Network.dataReceived`, on the monotonic clock the harness stamps with). Matched by byte offset
with the page's reads, the difference is how late each read was stamped: it joins the page's lag
samples, where the heartbeat check may forgive a stamp only by the delay measured at it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import httpx
from playwright.async_api import CDPSession

from harness.history import History, Kind, Record


@dataclass
class _Request:
    received_at: list[float] = field(default_factory=list)  # seconds, monotonic
    received_bytes: list[int] = field(default_factory=list)  # cumulative, at each of those times


@dataclass
class DeliveryTimes:
    """The stream requests of one page, in the order it made them (connection 0, 1, ...)."""

    stream_path: str
    _requests: dict[str, _Request] = field(default_factory=dict)

    async def watch(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.dataReceived", self._received)
        await cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        if httpx.URL(event["request"]["url"]).path == self.stream_path:
            self._requests.setdefault(event["requestId"], _Request())

    def _received(self, event: dict[str, Any]) -> None:
        request = self._requests.get(event["requestId"])
        if request is not None:
            total = (request.received_bytes[-1] if request.received_bytes else 0) + int(event["dataLength"])
            request.received_at.append(float(event["timestamp"]))
            request.received_bytes.append(total)

    def record_lag(self, history: History, client: str) -> None:
        """One lag sample per read the page stamped after the browser had received its last byte."""
        connections = list(self._requests.values())
        for read in [r for r in history.records if r.client == client and r.kind == Kind.BYTES]:
            if 0 <= read.connection < len(connections):
                late = self._lateness(connections[read.connection], read)
                if late > 0:
                    history.add_at(read.t_ns, client, Kind.LOOP_LAG, connection=read.connection, lag_us=late)

    @staticmethod
    def _lateness(request: _Request, read: Record) -> int:
        """Microseconds between the browser receiving the read's last byte and the page stamping it."""
        index = bisect.bisect_left(request.received_bytes, read.offset + read.nbytes)
        if index == len(request.received_bytes):
            return 0
        return max(0, round(read.t_ns / 1000 - request.received_at[index] * 1e6))
