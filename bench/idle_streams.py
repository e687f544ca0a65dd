"""B2: how many concurrent idle streams the reference server holds with heartbeat lateness
p99 <= 100 ms, and its memory per stream: one process (or --instances N behind HAProxy, the
deployment `sse-chaos serve --instances N` runs), or the peer server for comparison.

Run by hand: .venv/bin/python bench/idle_streams.py [--steps 10000,20000,40000] [--seconds 16]
              [--rate 1000] [--servers reference,peer] [--instances N]
Streams carry only heartbeats (the contract's 5 s period, content never due). The clients are
processes of their own (bench/idle_clients.py), at most 10,000 streams each, over several source
addresses. Lateness of heartbeat k on a connection = its arrival minus (that connection's
earliest on-schedule arrival in the window + k periods); `srv` columns measure the same by the
server's stamp (the heartbeat's uptime_seconds, its monotonic clock to the ms): the server's own
delay, without the network's or the clients' (on a busy machine, the clients' share shows).
Each step says how many streams it held, and why the others failed (connect errors, refusals,
streams that closed or went quiet); its lateness is measured over the streams held, and a step
holds only when every stream was.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from idle_clients import Assignment, Connected, Held, serve_worker
from servers import server

from harness.deploy.embedded import embedded_deployment
from harness.deploy.spec import DeploymentSpec
from reference_server.open_files import raise_open_file_limit

IDLE = {
    "heartbeat_interval": 5,  # the contract's default
    "silence_threshold": 15,
    "chunk_delay_ms": 3_600_000,
    "stream_max_seconds": 3600,
    "send_timeout": 60,
}
GOAL_MS = 100.0
_WORKER_STREAMS = 10_000  # per client process: under its open-file limit, and the clients' CPU on both cores
_CONNECT_SECONDS = 600.0  # a worker's connects and first heartbeats, at most
_SETTLE_SECONDS = 0.5
_RESULT_SECONDS = 60.0


@dataclass
class Step:
    streams: int
    held: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    stamped_lateness_ms: list[float] = field(default_factory=list)
    beats: int = 0
    rss_per_stream: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def p99(self) -> float | None:
        return float(np.percentile(self.lateness_ms, 99)) if self.lateness_ms else None

    @property
    def kept(self) -> bool:
        return self.held == self.streams and not self.failures and self.p99 is not None and self.p99 <= GOAL_MS

    def line(self, name: str) -> str:
        arrival = _percentiles(self.lateness_ms, (50, 99, 100))
        stamped = _percentiles(self.stamped_lateness_ms, (99, 100))
        load = "/".join(f"{figure:.2f}" for figure in os.getloadavg())
        return (
            f"{name:<12} {self.streams:>8} {self.held:>8} {sum(self.failures.values()):>8}"
            f" {arrival} {stamped} {self.rss_per_stream / 1024:>9.1f} {self.beats:>10} {load:>15}"
        )


HEADER = (
    f"{'server':<12} {'streams':>8} {'held':>8} {'failed':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    f" {'srv p99':>8} {'srv max':>8} {'RSS/str KB':>9} {'heartbeats':>10} {'load 1/5/15':>15}"
)


def _percentiles(samples: list[float], which: tuple[int, ...]) -> str:
    if not samples:
        return " ".join(f"{'-':>8}" for _ in which)
    return " ".join(f"{np.percentile(samples, q):>8.1f}" for q in which)


@dataclass(frozen=True)
class Load:
    streams: int
    seconds: float  # the window measured once every stream is going
    rate: float  # connects per second, over every client process


def measure(url: str, load: Load, rss: Callable[[], int]) -> Step:
    """`load.streams` idle streams to `url` from client processes, then the window."""
    step = Step(load.streams)
    idle_rss = rss()
    context = multiprocessing.get_context("spawn")  # the parent may run an event loop in another thread
    shares = _shares(load.streams)
    links: list[tuple[Connection, multiprocessing.process.BaseProcess]] = []
    try:
        for worker, share in enumerate(shares):
            ours, theirs = context.Pipe()
            assignment = Assignment(url, share, worker, IDLE["heartbeat_interval"], load.rate / len(shares))
            process = context.Process(target=serve_worker, args=(theirs, assignment))
            process.start()
            theirs.close()
            links.append((ours, process))
        for ours, _ in links:
            connected: Connected = _receive(ours, _CONNECT_SECONDS)
            step.held += connected.streams
            step.failures += connected.failures
        start = time.monotonic() + _SETTLE_SECONDS
        for ours, _ in links:
            ours.send((start, start + load.seconds))
        time.sleep(max(0.0, start + load.seconds - time.monotonic()))
        step.rss_per_stream = (rss() - idle_rss) / max(1, step.held)
        for ours, _ in links:
            held: Held = _receive(ours, _RESULT_SECONDS)
            step.lateness_ms += held.lateness_ms
            step.stamped_lateness_ms += held.stamped_lateness_ms
            step.beats += held.beats
            step.failures += held.failures
    finally:
        for ours, process in links:
            ours.close()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    return step


def _shares(streams: int) -> list[int]:
    workers = math.ceil(streams / _WORKER_STREAMS)
    return [len(range(worker, streams, workers)) for worker in range(workers)]


def _receive(pipe: Connection, seconds: float) -> Connected | Held:
    if not pipe.poll(seconds):
        raise RuntimeError(f"a client process said nothing within {seconds:g} s")
    return pipe.recv()  # type: ignore[no-any-return]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def on_server(name: str, load: Load) -> Step:
    with server(name, **IDLE, max_streams=load.streams) as running:
        return measure(running.url, load, running.rss_bytes)


def on_instances(instances: int, load: Load) -> Step:
    """Across `instances` reference servers behind HAProxy, each with its own memory store: an idle
    stream never resumes, and round robin gives each instance its share."""

    async def run() -> Step:
        spec = DeploymentSpec(instances=instances, balancer="haproxy", store="memory")
        timing = IDLE | {"max_streams": math.ceil(load.streams / instances)}
        with tempfile.TemporaryDirectory(prefix="b2-") as work:
            async with embedded_deployment(spec, timing, Path(work)) as deployment:
                pids = [s.process.pid for s in deployment.fleet.servers.values() if s.process is not None]

                def total_rss() -> int:
                    return sum(_rss(pid) for pid in pids)

                return await asyncio.to_thread(measure, deployment.stream_url, load, total_rss)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="10000,20000,40000")
    parser.add_argument("--seconds", type=float, default=16)
    parser.add_argument("--rate", type=float, default=1000, help="connects per second (streams arrive over time)")
    parser.add_argument("--servers", default="reference", help="reference, peer, or both: reference,peer")
    parser.add_argument("--instances", type=int, default=0, help="N reference servers behind HAProxy instead")
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    limit = raise_open_file_limit()
    print(
        f"B2 idle streams: heartbeat every 5 s, {args.rate:g} connects/s, {args.seconds:g} s window per step;"
        f" open files {limit.shown()}"
    )
    print(HEADER)
    names = [f"{args.instances}x-ref"] if args.instances else args.servers.split(",")
    kept = dict.fromkeys(names, 0)
    for name in names:
        for streams in steps:
            load = Load(streams, args.seconds, args.rate)
            step = on_instances(args.instances, load) if args.instances else on_server(name, load)
            print(step.line(name), flush=True)
            for why, count in step.failures.most_common():
                print(f"{'':<12} {count:>8} {why}", flush=True)
            if step.kept:
                kept[name] = streams
    held = ", ".join(f"{name} {streams}" for name, streams in kept.items())
    print(f"held every stream with p99 <= {GOAL_MS:g} ms: {held} (goal >= 20,000 in one reference-server process)")


if __name__ == "__main__":
    main()
