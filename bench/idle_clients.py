"""B2's clients: one process holds its share of idle streams and notes when each heartbeat
arrives (plain asyncio protocols, no SSE parsing). Several such processes share a step, each
under its own open-file limit, and their sockets are spread over source addresses 127.0.0.x:
one source address has only the ephemeral port range (about 28,000 ports) towards one server.

The parent drives a worker over a pipe: the worker connects and says `Connected`; it is sent
the window (monotonic start and end, one clock for every process on the machine); it answers
with its `Held` streams' lateness in that window."""

from __future__ import annotations

import asyncio
import errno
import math
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

import numpy as np
import uvloop

from reference_server.open_files import raise_open_file_limit

MARK = b"event: heartbeat"
UPTIME = re.compile(rb'"uptime_seconds":([0-9.]+)')  # the server's stamp: its monotonic clock, to the ms
EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_PARTIAL_BYTES = 4096  # of an event not yet whole: a heartbeat's frame is about 300
_BATCH = 50
_HEAD_BYTES = 200
_FIRST_BEAT_SECONDS = 60.0
_ANSWER_SECONDS = 10.0  # a batch's response heads; past it, the server has stopped answering
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux 4.2+; Python 3.12 names it
SOURCES_PER_WORKER = 4  # 127.0.0.2-5 for worker 0, 127.0.0.6-9 for worker 1...


@dataclass(frozen=True)
class Assignment:
    url: str
    streams: int
    worker: int  # which source addresses it connects from
    interval: float  # the heartbeat period
    # Connects per second. Streams that arrive over time fall due for their heartbeats spread over
    # the period; a burst of connects puts as many heartbeats due at one instant, every period.
    rate: float


@dataclass
class Connected:
    """A worker's streams once its connects are done: how many answered 200 and had a heartbeat."""

    streams: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # connect errors and refusals, by kind


@dataclass
class Held:
    lateness_ms: list[float]  # by arrival: the server's delay, the network's and this process's
    stamped_lateness_ms: list[float]  # by the server's stamp: the server's delay alone
    beats: int
    failures: Counter[str]  # streams that closed, or went quiet, in the window


class HeartbeatCounter(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.arrivals: list[float] = []
        self.stamps: list[float] = []  # each heartbeat's uptime_seconds
        self.partial = b""
        self.head = b""  # the first bytes: the status line
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if len(self.head) < _HEAD_BYTES:
            self.head += data[: _HEAD_BYTES - len(self.head)]
        *events, self.partial = EVENT_END.split(self.partial + data)
        self.partial = self.partial[-_PARTIAL_BYTES:]
        for event in events:
            if MARK in event:
                stamp = UPTIME.search(event)  # a server without it (the peer): no stamped lateness
                self.arrivals.append(now)
                self.stamps.append(float(stamp[1]) if stamp else math.nan)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    @property
    def refused(self) -> str | None:
        """The status line when one came and it is not 200 (the server's limit says 503)."""
        status = self.head.split(b"\r\n", 1)[0]
        return None if not status or status.startswith(b"HTTP/1.1 200") else status.decode(errors="replace")[:40]


def serve_worker(pipe: Connection, assignment: Assignment) -> None:
    """A worker process's body: the assigned connections, then the window the parent sends."""
    raise_open_file_limit()
    try:
        uvloop.run(_hold(pipe, assignment))
    finally:
        pipe.close()


async def _hold(pipe: Connection, assignment: Assignment) -> None:
    counters, transports, connected = await _connect_all(assignment)
    try:
        await _until_first_beats(counters)
        going = [c for c in counters if c.refused is None and c.arrivals and not c.closed]
        for counter in counters:
            if counter not in going:
                connected.failures[_why_not_going(counter)] += 1
        connected.streams = len(going)
        pipe.send(connected)
        start, end = await asyncio.to_thread(pipe.recv)
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        pipe.send(_held(going, start, assignment.interval))
    finally:
        for transport in transports:
            transport.close()


async def _connect_all(
    assignment: Assignment,
) -> tuple[list[HeartbeatCounter], list[asyncio.BaseTransport], Connected]:
    """In batches at the assigned rate, each answered before the next connects, so an accept
    backlog overflow (a connect storm, not what this measures) never comes into it."""
    parts = urlsplit(assignment.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    request = f"GET {parts.path}?query=idle&max_tokens=4096 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    first_source = 2 + assignment.worker * SOURCES_PER_WORKER
    sources = [f"127.0.0.{first_source + n}" for n in range(SOURCES_PER_WORKER)]
    counters: list[HeartbeatCounter] = []
    transports: list[asyncio.BaseTransport] = []
    connected = Connected()
    started = time.monotonic()
    for first in range(0, assignment.streams, _BATCH):
        await asyncio.sleep(max(0.0, started + first / assignment.rate - time.monotonic()))
        numbers = range(first, min(first + _BATCH, assignment.streams))
        opened = await asyncio.gather(
            *(_open(address, sources[n % len(sources)], request.encode()) for n in numbers), return_exceptions=True
        )
        batch = []
        for outcome in opened:
            if isinstance(outcome, BaseException):
                connected.failures[_connect_error(outcome)] += 1
                continue
            transports.append(outcome[0])
            batch.append(outcome[1])
        counters += batch
        await _until(lambda batch=batch: all(c.head or c.closed for c in batch), _ANSWER_SECONDS)
        if not all(c.head or c.closed for c in batch):
            untried = assignment.streams - numbers.stop
            connected.failures[f"not tried: a batch was unanswered after {_ANSWER_SECONDS:g} s"] += untried
            break
    return counters, transports, connected


async def _open(
    address: tuple[str, int], source: str, request: bytes
) -> tuple[asyncio.BaseTransport, HeartbeatCounter]:
    """A connection from `source`, its port chosen at connect time (IP_BIND_ADDRESS_NO_PORT): a
    source address's ports are then shared between destinations instead of reserved at bind."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        await loop.sock_connect(sock, address)
        return await loop.create_connection(lambda: HeartbeatCounter(request), sock=sock)
    except BaseException:
        sock.close()
        raise


async def _until_first_beats(counters: list[HeartbeatCounter]) -> None:
    await _until(lambda: all(_settled(c) for c in counters), _FIRST_BEAT_SECONDS)


def _settled(counter: HeartbeatCounter) -> bool:
    """Each batch was answered or given up on: a stream still without a head will not get one."""
    return bool(counter.arrivals) or counter.closed or counter.refused is not None or not counter.head


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    """Polled: the condition spans thousands of protocols, none of which could set one event."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def _held(going: list[HeartbeatCounter], start: float, interval: float) -> Held:
    held = Held([], [], 0, Counter())
    for counter in going:
        in_window = [n for n, t in enumerate(counter.arrivals) if t >= start]
        held.beats += len(in_window)
        if counter.closed:
            held.failures["closed in the window"] += 1
        if len(in_window) < 2:
            held.failures["quiet in the window (under 2 heartbeats)"] += 1
            continue
        held.lateness_ms += _lateness_ms([counter.arrivals[n] for n in in_window], interval)
        stamps = [counter.stamps[n] for n in in_window]
        if not any(math.isnan(stamp) for stamp in stamps):
            held.stamped_lateness_ms += _lateness_ms(stamps, interval)
    return held


def _lateness_ms(times: list[float], interval: float) -> list[float]:
    """Of heartbeat k: its time minus (the connection's earliest on-schedule time + k intervals)."""
    schedule = np.array(times) - np.arange(len(times)) * interval
    return ((schedule - schedule.min()) * 1000).tolist()  # type: ignore[no-any-return]


def _why_not_going(counter: HeartbeatCounter) -> str:
    if not counter.head:
        return "closed before answering" if counter.closed else f"no answer within {_ANSWER_SECONDS:g} s"
    if counter.refused is not None:
        return f"refused: {counter.refused!r}"
    if counter.closed:
        return "closed before the first heartbeat"
    return f"no heartbeat within {_FIRST_BEAT_SECONDS:g} s"


def _connect_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno is not None:
        return f"connect: {errno.errorcode.get(error.errno, error.errno)}"
    return f"connect: {type(error).__name__}"
