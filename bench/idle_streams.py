"""B2: how many concurrent idle streams one server process holds with heartbeat lateness
p99 <= 100 ms, and its memory per stream; reference server vs peer, same run.

Run by hand: .venv/bin/python bench/idle_streams.py [--steps 1000,2000,5000,10000] [--seconds 6]
Streams carry only heartbeats (the contract's 5 s period, content never due). The client is this process:
plain asyncio protocols that only note when each heartbeat arrives. Lateness of heartbeat k
on a connection = its arrival minus (that connection's earliest on-schedule arrival + k periods).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

import numpy as np
import uvloop
from servers import Running, server

IDLE = {
    "heartbeat_interval": 5,  # the contract's default
    "silence_threshold": 15,
    "chunk_delay_ms": 3_600_000,
    "stream_max_seconds": 3600,
    "max_streams": 100_000,
    "send_timeout": 60,
}
MARK = b"event: heartbeat"
_BATCH = 500


class HeartbeatCounter(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.arrivals: list[float] = []
        self.tail = b""
        self.head = b""  # the first bytes, to say why a stream never got going

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if len(self.head) < 200:
            self.head += data[:200]
        seen = (self.tail + data).count(MARK)
        self.arrivals.extend([now] * seen)
        self.tail = data[-len(MARK) + 1 :]


async def measure(running: Running, streams: int, seconds: float) -> tuple[float, float, int]:
    url = urlsplit(running.url)
    request = f"GET {url.path}?query=idle&max_tokens=4096 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    loop = asyncio.get_running_loop()
    idle_rss = running.rss_bytes()
    counters: list[HeartbeatCounter] = []
    transports = []
    for start in range(0, streams, _BATCH):
        batch = await asyncio.gather(
            *(
                loop.create_connection(lambda: HeartbeatCounter(request.encode()), url.hostname, url.port)
                for _ in range(min(_BATCH, streams - start))
            )
        )
        transports += [transport for transport, _ in batch]
        counters += [protocol for _, protocol in batch]
        # Paced: each batch is answered before the next connects, so an accept backlog
        # overflow (a connect storm, not what this measures) never comes into it.
        await _until_every(counters, "head", streams)
    await _until_every(counters, "arrivals", streams)
    window_start = time.monotonic()
    await asyncio.sleep(seconds)
    rss_per_stream = (running.rss_bytes() - idle_rss) / streams
    lateness = []
    for counter in counters:
        beats = np.array([t for t in counter.arrivals if t >= window_start])
        if len(beats) < 2:
            lateness.append(seconds)  # a stream that went quiet is as late as the window
            continue
        schedule = beats - np.arange(len(beats)) * IDLE["heartbeat_interval"]
        lateness.extend(schedule - schedule.min())
    for transport in transports:
        transport.close()
    await asyncio.sleep(1)
    p99 = float(np.percentile(lateness, 99)) * 1000
    return p99, rss_per_stream, sum(len(c.arrivals) for c in counters)


async def _until_every(counters: list[HeartbeatCounter], has: str, streams: int) -> None:
    """Wait until every stream has an answer (`head`) or a heartbeat (`arrivals`)."""
    for _ in range(600):  # 60 s at most
        if all(getattr(counter, has) for counter in counters):
            return
        await asyncio.sleep(0.1)
    silent = sum(1 for counter in counters if not counter.arrivals)
    raise RuntimeError(f"{silent} of {streams} streams had no heartbeat within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="1000,2000,5000,10000")
    parser.add_argument("--seconds", type=float, default=16)
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    print(f"B2 idle streams: heartbeat every 5 s, {args.seconds:g} s window per step")
    print(f"{'server':<10} {'streams':>8} {'lateness p99 ms':>16} {'RSS/stream KB':>14} {'heartbeats':>11}")
    held = {}
    for name in ("reference", "peer"):
        held[name] = 0
        for streams in steps:
            with server(name, **IDLE) as running:
                p99, rss, beats = uvloop.run(measure(running, streams, args.seconds))
            print(f"{name:<10} {streams:>8} {p99:>16.1f} {rss / 1024:>14.1f} {beats:>11}", flush=True)
            if p99 <= 100:
                held[name] = streams
    print(f"held with p99 <= 100 ms: reference {held['reference']}, peer {held['peer']} (goal >= 10,000 and >= peer)")


if __name__ == "__main__":
    main()
