"""B3: how many concurrent clients one harness process drives with heartbeat timing error
p99 <= 10 ms, where error = the interval the client observed minus the one the server stamped.

Run by hand: .venv/bin/python bench/harness_clients.py [--steps 500,1000,2000,4000] [--seconds 8]
The harness's own RobustClient, in one process on uvloop, straight to the reference server
(heartbeat every 1 s, content never due): what is measured is the harness, not a network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from itertools import pairwise

import numpy as np
import uvloop
from servers import server

from harness.client import ClientSettings, RobustClient
from harness.history import History, Kind
from harness.transport import new_http_client
from reference_server.collector import collector_paused, quiet_collector

IDLE = {"heartbeat_interval": 1, "silence_threshold": 5, "chunk_delay_ms": 3_600_000, "stream_max_seconds": 3600}
_BATCH = 250


def timing_errors_ms(history: History, window_start_ns: int) -> list[float]:
    """Per client and connection: observed minus server-stamped interval between heartbeats."""
    beats: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for record in history.of_kind(Kind.EVENT):
        if record.event == "heartbeat" and record.t_ns >= window_start_ns:
            stamped = datetime.fromisoformat(json.loads(record.data)["timestamp"]).timestamp()
            beats.setdefault((record.client, record.connection), []).append((record.t_ns, stamped))
    errors = []
    for series in beats.values():
        for (seen_a, stamped_a), (seen_b, stamped_b) in pairwise(series):
            errors.append(abs((seen_b - seen_a) / 1e9 - (stamped_b - stamped_a)) * 1000)
    return errors


async def measure(url: str, clients: int, seconds: float) -> tuple[float, int, int]:
    history = History()
    with collector_paused():  # as the runner does while a scenario's clients stream
        return await _measure(history, url, clients, seconds)


async def _measure(history: History, url: str, clients: int, seconds: float) -> tuple[float, int, int]:
    async with new_http_client() as http:
        settings = ClientSettings(url, {"query": "idle", "max_tokens": "4096"}, deadline=3600)
        runners = []
        for start in range(0, clients, _BATCH):
            runners += [
                asyncio.create_task(RobustClient(f"c{n}", settings, history, http).run())
                for n in range(start, min(start + _BATCH, clients))
            ]
            await asyncio.sleep(0.3)
        await asyncio.sleep(2)  # every client connected and past its first heartbeat
        window_start = history.records[-1].t_ns
        await asyncio.sleep(seconds)
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
    errors = timing_errors_ms(history, window_start)
    connected = len({r.client for r in history.of_kind(Kind.RESPONSE)})
    return float(np.percentile(errors, 99)) if errors else float("inf"), len(errors), connected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="500,1000,2000,4000")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    print(f"B3 harness clients: heartbeat every 1 s, {args.seconds:g} s window per step")
    print(f"{'clients':>8} {'connected':>10} {'intervals':>10} {'error p99 ms':>13}")
    held = 0
    for clients in (int(n) for n in args.steps.split(",")):
        with server("reference", **IDLE) as running:
            quiet_collector()
            p99, intervals, connected = uvloop.run(measure(running.url, clients, args.seconds))
        print(f"{clients:>8} {connected:>10} {intervals:>10} {p99:>13.2f}", flush=True)
        if p99 <= 10 and connected == clients:
            held = clients
    print(f"driven with error p99 <= 10 ms: {held} clients (goal >= 2,000)")


if __name__ == "__main__":
    main()
