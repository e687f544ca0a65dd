"""The worker process (`python -m harness.workers`): reads its spec from stdin, runs its part of
a scenario's HTTP clients through the scenario's proxy, each starting when it would in one process,
and streams their records to stdout every FLUSH_SECONDS, with its own loop's lag samples. It stops
when its clients end, its stdin ends (the coordinator is gone or gave up), or the plan's hard
deadline passes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from bisect import bisect_right
from operator import attrgetter
from typing import TypeVar

import httpx
import uvloop
from pydantic import BaseModel

from harness.client import RobustClient, http_client_name, planned_settings
from harness.history import COLUMNS, READ_WINDOW_NS, History
from harness.loop_lag import loop_lag_sampled
from harness.share import Share
from harness.transport import new_http_client
from harness.untrusted import printable
from harness.workers.wire import MAX_LINE_BYTES, Report, Start, WorkerSpec, batches, encode
from reference_server.collector import collector_paused

FLUSH_SECONDS = 0.05
SPEC_SECONDS = 60.0  # the coordinator sends the spec, then the start, as soon as the worker is ready
M = TypeVar("M", bound=BaseModel)
_ROW = attrgetter(*COLUMNS)
_T_NS = attrgetter("t_ns")


class _Outbox:
    """The records not yet sent, and how many clients finished since the last report."""

    def __init__(self, history: History, out: asyncio.StreamWriter) -> None:
        self.history = history
        self.out = out
        self.finished = 0

    async def flush(self, final: bool = False) -> None:
        """Send the records no later read can join (`History.add_read` joins a read to a record
        opened under READ_WINDOW_NS ago), or every record when `final`, and forget them here."""
        records = self.history.records
        cut = len(records) if final else bisect_right(records, time.monotonic_ns() - READ_WINDOW_NS, key=_T_NS)
        sent, finished = [_ROW(record) for record in records[:cut]], self.finished
        del records[:cut]
        self.finished = 0
        for line in batches(sent, finished):
            self.out.write(line)
            await self.out.drain()

    async def flushing(self, stop: asyncio.Event) -> None:
        """Flush every FLUSH_SECONDS until `stop`, then flush the rest: never cancelled, so no
        record is dropped between leaving the history and reaching the pipe."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            await self.flush(final=stop.is_set())


async def _until(deadline_ns: int) -> None:
    """Sleep until the monotonic clock reads `deadline_ns`: the loop's timer may wake up to a
    millisecond early (libuv counts in milliseconds), and a client never starts before its slot."""
    while (left_ns := deadline_ns - time.monotonic_ns()) > 0:  # noqa: ASYNC110 (a time, not an event)
        await asyncio.sleep(left_ns / 1e9)


async def run_part(spec: WorkerSpec, start_ns: int, http: httpx.AsyncClient, out: asyncio.StreamWriter) -> None:
    """The worker's clients, each started `index` staggers after `start_ns`, their records sent as they come."""
    plan = spec.plan
    history = History(max_records=spec.max_records, max_text=spec.max_text)
    outbox = _Outbox(history, out)
    settings = planned_settings(plan, spec.headers, spec.proxy)

    async def one_client(index: int) -> None:
        await _until(start_ns + round(index * plan.clients.stagger * 1e9))
        await RobustClient(http_client_name(index), settings, history, http, plan.profile).run()
        outbox.finished += 1

    stop = asyncio.Event()
    flushing = asyncio.create_task(outbox.flushing(stop))
    try:
        async with (
            asyncio.timeout(plan.hard_deadline),
            loop_lag_sampled(history, plan.lag_sample_seconds, spec.loop),
        ):
            with collector_paused():
                await asyncio.gather(*map(one_client, Share(*spec.share).indices(plan.clients.count)))
    finally:
        stop.set()
        await flushing


class _Refused(Exception):
    """What came on stdin is not what the worker waits for."""


async def _read(stdin: asyncio.StreamReader, model: type[M]) -> M:
    try:
        async with asyncio.timeout(SPEC_SECONDS):
            line = await stdin.readline()
        return model.model_validate_json(line)
    except TimeoutError:
        raise _Refused(f"no {model.__name__} came on stdin within {SPEC_SECONDS:g} s") from None
    except ValueError:  # a ValidationError's text would echo what it read: the headers
        raise _Refused(f"what came on stdin is not a {model.__name__}") from None


async def serve(stdin: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
    """Ready, the spec, ready, the start, the clients, done; an error report when one fails."""
    async with new_http_client() as http:
        try:
            await _say(out, Report(ready=True))
            spec = await _read(stdin, WorkerSpec)
            await _say(out, Report(ready=True))
            start = await _read(stdin, Start)
        except _Refused as refused:
            await _say(out, Report(error=str(refused)))
            return
        part = asyncio.create_task(run_part(spec, start.start_ns, http, out))
        ended = asyncio.create_task(stdin.read(1))  # the coordinator never writes again: this is its end
        await asyncio.wait([part, ended], return_when=asyncio.FIRST_COMPLETED)
        if not part.done():
            part.cancel()
        ended.cancel()
        await asyncio.gather(part, ended, return_exceptions=True)
    if part.cancelled():
        return
    if (error := part.exception()) is not None:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        await _say(out, Report(error=printable(text)))
        return
    await _say(out, Report(done=True))


async def _say(out: asyncio.StreamWriter, report: Report) -> None:
    out.write(encode(report))
    await out.drain()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    out = asyncio.StreamWriter(transport, protocol, stdin, loop)
    try:
        await serve(stdin, out)
    finally:
        out.close()


def main() -> None:
    # Ctrl-C reaches the terminal's whole process group: the coordinator, which stops its workers
    # itself once the scenario is cancelled. A worker that died first would make it an error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvloop.run(_main())
