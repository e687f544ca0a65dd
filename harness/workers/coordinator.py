"""The coordinator's side of worker processes: starts them, hands each its part of a scenario,
appends what they record to the scenario's history, and stops them on every path.

Every read from a worker has a deadline and a bound; a worker that dies, overruns, goes silent
or writes a line that is not a report makes the scenario an error naming it, never a verdict on
part of its clients."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from harness.client import http_client_name
from harness.errors import EnvironmentProblem
from harness.history import COLUMNS, HARNESS, History, Kind, harness_loop, records_from_rows
from harness.plan import Plan
from harness.probe.listen import redacted
from harness.processes import stop_process
from harness.share import Share
from harness.untrusted import printable
from harness.workers.wire import MAX_LINE_BYTES, Report, Start, WorkerSpec, encode

READY_SECONDS = 60.0  # to start Python and import the harness, on a busy machine
SILENT_SECONDS = 10.0  # a worker reports every 50 ms: this long without a line, it is wedged
EXIT_SECONDS = 5.0  # from its last report to its exit
WORKER_COMMAND = (sys.executable, "-m", "harness.workers")
_STDERR_TAIL_BYTES = 4096
# a browser page's records: a worker runs HTTP clients only (the history refuses, on its own, a
# fault or a CPU wait a client stamped)
_NOT_AN_HTTP_CLIENT_S = (Kind.LOOP_LAG, Kind.DISPLAY)
_STOP_SECONDS = 2.0


class WorkerFailed(EnvironmentProblem):
    """A worker died, went silent or wrote what is not a report: the scenario cannot be judged."""


@dataclass
class _Worker:
    number: int
    of: int
    process: asyncio.subprocess.Process
    stderr_tail: bytearray = field(default_factory=bytearray)
    secrets: list[str] = field(default_factory=list)  # the -H values it was given: never shown

    @property
    def loop(self) -> str:
        return f"worker{self.number}"

    def __str__(self) -> str:
        return f"worker {self.number} of {self.of} (pid {self.process.pid})"

    async def read(self, seconds: float) -> Report:
        """Its next report, within `seconds`."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(seconds):
                line = await self.process.stdout.readline()
        except TimeoutError:
            raise WorkerFailed(f"{self} sent nothing for {seconds:g} s") from None
        except ValueError:  # the stream's limit: a line longer than MAX_LINE_BYTES
            raise WorkerFailed(f"{self} wrote a line over {MAX_LINE_BYTES} bytes") from None
        if not line:
            raise WorkerFailed(f"{self} {await self._ending()}")
        try:
            report = Report.model_validate_json(line)
        except ValidationError:
            raise WorkerFailed(
                f"{self} wrote a line that is not a report: {printable(line.decode(errors='replace'), 80)}"
            ) from None
        if report.error is not None:
            raise WorkerFailed(f"{self} failed: {printable(report.error)}")
        return report

    async def ready(self, seconds: float) -> None:
        if not (await self.read(seconds)).ready:
            raise WorkerFailed(f"{self} did not say it was ready")

    async def _ending(self) -> str:
        """How it ended its output: its exit status or signal, and its last line on stderr."""
        try:
            async with asyncio.timeout(EXIT_SECONDS):
                status = await self.process.wait()
        except TimeoutError:
            return f"closed its output and had not exited {EXIT_SECONDS:g} s later"
        said = self.stderr_tail.decode(errors="replace").strip().splitlines()
        last = f"; last line on stderr: {printable(redacted(said[-1], self.secrets))}" if said else ""
        return f"{_status(status)} mid-scenario{last}"

    async def collect_stderr(self) -> None:
        """Keep the last _STDERR_TAIL_BYTES of what it says on stderr (a traceback's last line)."""
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(_STDERR_TAIL_BYTES):
            self.stderr_tail += chunk
            del self.stderr_tail[:-_STDERR_TAIL_BYTES]


def _status(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited {status}"


class Workers:
    """N started worker processes, ready for one scenario."""

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers

    async def prepare(
        self, plan: Plan, history: History, share: Share, headers: Mapping[str, str], proxy: tuple[str, int]
    ) -> Prepared:
        """Give each worker its part of `share` of the plan's clients, which it sets up; they
        start when the scenario's clock does (`Prepared.run`)."""
        count = len(self._workers)
        parts = [share.split(worker.number, count) for worker in self._workers]
        for worker, part in zip(self._workers, parts, strict=True):
            spec = WorkerSpec(
                plan=plan,
                headers=dict(headers),
                proxy=proxy,
                share=(part.index, part.of),
                loop=worker.loop,
                max_records=history.max_records,
                max_text=history.max_text,
            )
            names = map(http_client_name, part.indices(plan.clients.count))
            history.loops |= dict.fromkeys(names, harness_loop(worker.loop))
            worker.secrets = list(headers.values())
            await _send(worker, spec)
        for worker in self._workers:
            await worker.ready(SILENT_SECONDS)
        return Prepared(list(zip(self._workers, parts, strict=True)), plan, history)


@dataclass(frozen=True)
class Prepared:
    """Workers whose clients are set, waiting for the scenario's clock."""

    parts: list[tuple[_Worker, Share]]
    plan: Plan
    history: History

    async def run(self, on_finished: Callable[[], None]) -> None:
        """Client 0 starts now (every client its staggers later, in whichever worker); each record
        the workers send joins the history, and `on_finished` is called for each client that ends."""
        start = Start(start_ns=time.monotonic_ns())
        for worker, _ in self.parts:
            await _send(worker, start)
        reading = [
            asyncio.create_task(_collect(worker, self.plan, part, self.history, on_finished))
            for worker, part in self.parts
        ]
        await _all_or_first_error(reading)


async def _send(worker: _Worker, message: BaseModel) -> None:
    assert worker.process.stdin is not None
    try:
        async with asyncio.timeout(SILENT_SECONDS):
            worker.process.stdin.write(encode(message))
            await worker.process.stdin.drain()
    except (TimeoutError, OSError) as error:
        raise WorkerFailed(f"{worker} did not take its {type(message).__name__}: {type(error).__name__}") from None


async def _collect(worker: _Worker, plan: Plan, part: Share, history: History, on_finished: Callable[[], None]) -> None:
    """Append the worker's records to `history` until it says it is done and exits cleanly."""
    names = {http_client_name(index) for index in part.indices(plan.clients.count)}
    # its own lag samples, one each sampling period (with a margin for the last): beyond, it is broken
    samples_left = int(plan.hard_deadline / plan.lag_sample_seconds) + 16
    while not (report := await worker.read(SILENT_SECONDS)).done:
        try:
            records = records_from_rows(COLUMNS, report.rows)
        except (TypeError, ValueError) as error:
            raise WorkerFailed(f"{worker} sent a record that is not one: {printable(str(error), 120)}") from None
        for record in records:
            if record.client == HARNESS and record.kind == Kind.LOOP_LAG and record.event == worker.loop:
                samples_left -= 1
            elif record.client not in names:
                raise WorkerFailed(f"{worker} sent a record of {printable(record.client, 40)}, not one of its clients")
            elif record.kind in _NOT_AN_HTTP_CLIENT_S:
                raise WorkerFailed(f"{worker} sent a {record.kind} of {record.client}: its HTTP clients have no page")
            history.admit(record)
        if samples_left < 0:
            raise WorkerFailed(f"{worker} sent more lag samples than its scenario's hard deadline allows")
        for _ in range(report.finished):
            on_finished()
    try:
        async with asyncio.timeout(EXIT_SECONDS):
            status = await worker.process.wait()
    except TimeoutError:
        raise WorkerFailed(f"{worker} said it was done and had not exited {EXIT_SECONDS:g} s later") from None
    if status != 0:
        raise WorkerFailed(f"{worker} said it was done, then {_status(status)}")


async def _all_or_first_error(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; on the first failure cancel the others and raise it."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def workers_started(count: int) -> AsyncIterator[Workers]:
    """`count` worker processes, each ready (imported, its HTTP client made) within READY_SECONDS;
    every one stopped (SIGTERM, then SIGKILL) and waited for on every path out."""
    workers: list[_Worker] = []
    tails: list[asyncio.Task[None]] = []
    try:
        for number in range(count):
            process = await asyncio.create_subprocess_exec(
                *WORKER_COMMAND,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE_BYTES,
            )
            workers.append(_Worker(number, count, process))
            tails.append(asyncio.create_task(workers[-1].collect_stderr()))
        for worker in workers:
            await worker.ready(READY_SECONDS)
        yield Workers(workers)
    finally:
        await asyncio.gather(*(_stop(worker) for worker in workers))
        for tail in tails:
            tail.cancel()
        await asyncio.gather(*tails, return_exceptions=True)


async def _stop(worker: _Worker) -> None:
    if worker.process.stdin is not None:
        worker.process.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        await stop_process(worker.process, _STOP_SECONDS)
