"""B3: how many concurrent clients one harness process drives with heartbeat timing error
p99 <= 10 ms, where error = the interval the client observed minus the one the server stamped.

Run by hand: .venv/bin/python bench/harness_clients.py [--steps 500,1000,2000,4000] [--seconds 8] [--runs 3]
                                                      [--workers 1,2]
The harness's own RobustClient on uvloop, straight to the reference server (heartbeat every 1 s,
content never due): what is measured is the harness, not a network. With `--workers 1` the
clients run in this process; with N > 1 they are split over N worker processes, as `sse-chaos run
--workers N` splits them (harness/workers), this process only collecting their records.
Clients connect 250 every 0.3 s (over workers: at the same rate, one every 1.2 ms); the window
opens 2 s after the last has its response headers. Each step runs --runs times for each number of
workers, each on a fresh server: every run is shown, then the median, the worker counts side by side.
Columns: clients with response headers; attempts that got none; the clients' errors (listed by
kind below the table); heartbeat intervals in the window; timing error p50/p99 ("-": none
measured); seconds until every client had headers ("-": some never did within 30 s); the
lag p99 of the loops that ran the clients (over workers: the workers'); how late the server stamped
heartbeats (p99) and the longest it waited for a CPU, in ms; accept-backlog overflows on this
machine during the run (Linux counts them for every listener, not only this server's).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvloop
from harness_clients_summary import (
    StepRun,
    error_lines,
    format_row,
    header,
    listen_overflows,
    median_row,
    read_run,
    row,
)
from servers import server

from harness.client import Callbacks, ClientSettings, RobustClient, State
from harness.history import History, Kind
from harness.loop_lag import loop_lag_sampled
from harness.plan import Plan, make_plan
from harness.profile import DEFAULT_PROFILE
from harness.scenario import Scenario
from harness.share import WHOLE
from harness.target import Target, Timing
from harness.transport import new_http_client
from harness.workers import MAX_WORKERS
from harness.workers.coordinator import workers_started
from reference_server.collector import collector_paused, quiet_collector

IDLE = {"heartbeat_interval": 1, "silence_threshold": 5, "chunk_delay_ms": 3_600_000, "stream_max_seconds": 3600}
RAMP_BATCH = 250
RAMP_PAUSE_SECONDS = 0.3
# A client's first attempt waits 5 s to connect plus the default 15 s silence for its headers:
# past this, a client still without headers has failed at least once (and says why).
HEADERS_DEADLINE_SECONDS = 30.0
SETTLE_SECONDS = 2.0  # every client past its first heartbeat before the window opens
LAG_SAMPLE_SECONDS = 0.1
LABEL_WIDTH = 18
GOALS = {1: 2_000, 2: 10_000}  # clients with p99 <= 10 ms: one process (B3), two workers on two cores (#18)
NETSTAT = Path("/proc/net/netstat")


@dataclass(frozen=True)
class Load:
    url: str
    clients: int
    seconds: float  # the measuring window


@dataclass(frozen=True)
class Driven:
    history: History
    window_start_ns: int
    ramp_seconds: float | None  # from the first connection to the last client's headers; None: some never


# How a step's clients are run: all in this process, or split over worker processes (their
# merged history), read by the same summary.
Driver = Callable[[Load], Awaitable[Driven]]
POLL_SECONDS = 0.05  # how often the merged history is read for clients that have their headers


class _Connected:
    """Which clients have had response headers at least once; set once all have."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.names: set[str] = set()
        self.all = asyncio.Event()

    def watcher(self, name: str) -> Callable[[State], None]:
        def on_state(state: State) -> None:
            if state == State.CONNECTED:
                self.names.add(name)
                if len(self.names) == self.clients:
                    self.all.set()

        return on_state


async def drive_in_process(load: Load) -> Driven:
    history = History()
    connected = _Connected(load.clients)
    settings = ClientSettings(load.url, {"query": "idle", "max_tokens": "4096"}, deadline=3600)
    runners: list[asyncio.Task[object]] = []
    with collector_paused():  # as the runner does while a scenario's clients stream
        async with new_http_client() as http, loop_lag_sampled(history, LAG_SAMPLE_SECONDS):
            started = time.monotonic()
            try:
                for start in range(0, load.clients, RAMP_BATCH):
                    for n in range(start, min(start + RAMP_BATCH, load.clients)):
                        callbacks = Callbacks(on_state=connected.watcher(f"c{n}"))
                        client = RobustClient(f"c{n}", settings, history, http, callbacks=callbacks)
                        runners.append(asyncio.create_task(client.run()))
                    await asyncio.sleep(RAMP_PAUSE_SECONDS)
                ramp_seconds = await _all_connected(connected, started)
                await asyncio.sleep(SETTLE_SECONDS)
                window_start_ns = time.monotonic_ns()
                await asyncio.sleep(load.seconds)
            finally:
                for runner in runners:
                    runner.cancel()
                await asyncio.gather(*runners, return_exceptions=True)
    return Driven(history, window_start_ns, ramp_seconds)


def idle_plan(load: Load) -> Plan:
    """The step's clients as a scenario's plan: idle streams, at the in-process ramp's rate, deadline an hour."""
    stagger = RAMP_PAUSE_SECONDS / RAMP_BATCH
    clients = {"query": "idle", "max_tokens": 4096, "deadline": "3600s", "stagger": f"{stagger}s"}
    scenario = Scenario.model_validate({"name": "b3", "description": "idle clients", "clients": clients})
    plan = make_plan(scenario, Target(load.url, DEFAULT_PROFILE), Timing(heartbeat=1.0, silence=5.0, cap=3600.0))
    return plan.model_copy(update={"clients": plan.clients.model_copy(update={"count": load.clients})})


def drive_in_workers(workers: int) -> Driver:
    async def drive(load: Load) -> Driven:
        history = History()
        url = httpx.URL(load.url)
        address = (url.host, url.port or 80)
        with collector_paused():
            async with workers_started(workers) as started, loop_lag_sampled(history, LAG_SAMPLE_SECONDS):
                prepared = await started.prepare(idle_plan(load), history, WHOLE, {}, address)
                begun = time.monotonic()
                running = asyncio.create_task(prepared.run(lambda: None))
                try:
                    ramp_seconds = await _all_responded(history, load.clients, begun, running)
                    await asyncio.sleep(SETTLE_SECONDS)
                    window_start_ns = time.monotonic_ns()
                    await asyncio.wait([running], timeout=load.seconds)
                    if running.done():  # a worker failed: its error, not a partial measure
                        running.result()
                finally:
                    running.cancel()
                    await asyncio.gather(running, return_exceptions=True)
        return Driven(history, window_start_ns, ramp_seconds)

    return drive


async def _all_responded(history: History, clients: int, begun: float, running: asyncio.Task[None]) -> float | None:
    """Seconds until every client had response headers, read from the merged history as it grows."""
    responded: set[str] = set()
    read = 0
    deadline = begun + HEADERS_DEADLINE_SECONDS
    while len(responded) < clients:
        if time.monotonic() > deadline:
            return None
        await asyncio.wait([running], timeout=POLL_SECONDS)
        if running.done():
            running.result()
        records, read = history.records[read:], len(history.records)
        responded.update(record.client for record in records if record.kind == Kind.RESPONSE and record.status == 200)
    return time.monotonic() - begun


async def _all_connected(connected: _Connected, started: float) -> float | None:
    try:
        async with asyncio.timeout(HEADERS_DEADLINE_SECONDS):
            await connected.all.wait()
    except TimeoutError:
        return None
    return time.monotonic() - started


def measure_step(clients: int, seconds: float, drive: Driver) -> StepRun:
    """One run of one step: a fresh reference server, `drive` runs the clients against it."""
    with server("reference", **IDLE) as running:
        quiet_collector()
        overflows_before = listen_overflows(NETSTAT.read_text())
        driven = uvloop.run(drive(Load(running.url, clients, seconds)))
        overflows = listen_overflows(NETSTAT.read_text()) - overflows_before
    return read_run(driven.history, clients, driven.window_start_ns, driven.ramp_seconds, overflows)


def report_step(label: str, runs: list[StepRun]) -> None:
    for number, run in enumerate(runs, 1):
        print(format_row(f"{label} run {number}", LABEL_WIDTH, row(run)))
    print(format_row(f"{label} median", LABEL_WIDTH, median_row(runs)), flush=True)
    for number, run in enumerate(runs, 1):
        if run.errors:
            print(f"  run {number}: clients' errors by kind")
            print("\n".join(error_lines(run)))


def _steps(text: str) -> list[int]:
    try:
        steps = [int(step) for step in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be whole numbers, comma-separated, got {text[:40]!r}") from None
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"every step must be at least one client, got {text[:40]!r}")
    return steps


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text[:40]!r}")
    return value


def _workers(text: str) -> list[int]:
    counts = _steps(text)
    if max(counts) > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS} workers, got {text[:40]!r}")
    return counts


def _driver(workers: int) -> Driver:
    return drive_in_process if workers == 1 else drive_in_workers(workers)


def _runs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text[:40]!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=_steps, default=_steps("500,1000,2000,4000"))
    parser.add_argument("--seconds", type=_positive, default=8.0)
    parser.add_argument("--runs", type=_runs, default=3)
    parser.add_argument("--workers", type=_workers, default=[1], help="comma-separated: 1 is this process alone")
    args = parser.parse_args()
    print(
        f"B3 harness clients: heartbeat every 1 s, {RAMP_BATCH} clients connect every {RAMP_PAUSE_SECONDS:g} s,"
        f" {args.seconds:g} s window, {args.runs} runs per step and number of workers"
    )
    print(header(LABEL_WIDTH))
    held = dict.fromkeys(args.workers, 0)
    for clients in args.steps:
        for workers in args.workers:
            runs = [measure_step(clients, args.seconds, _driver(workers)) for _ in range(args.runs)]
            report_step(f"{clients} w{workers}", runs)
            if all(run.held for run in runs):
                held[workers] = max(held[workers], clients)
    for workers, clients in held.items():
        print(
            f"{workers} worker{'s' if workers > 1 else ''}: driven with error p99 <= 10 ms, every client streaming,"
            f" in every run: {clients} clients (goal >= {GOALS.get(workers, 2_000):,})"
        )


if __name__ == "__main__":
    main()
