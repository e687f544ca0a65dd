"""B1: single-stream throughput in events/s, reference server vs peer, curl as the client.

Run by hand: .venv/bin/python bench/throughput.py [--repeat 5] [--streams 5]
Both servers run at once with no chunk delay; each repetition streams the same answers
(4,096 tokens each) from one then the other, alternating; medians and the ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from contextlib import ExitStack

from servers import server

NO_DELAY = {"chunk_delay_ms": 0.001, "heartbeat_interval": 5, "silence_threshold": 15}


def events_per_second(url: str, streams: int) -> float:
    started = time.perf_counter()
    events = 0
    for number in range(streams):
        body = subprocess.run(
            ["curl", "-sN", "--max-time", "120", f"{url}?query=bench+{number}&max_tokens=4096"],
            capture_output=True,
            check=True,
        ).stdout
        events += body.count(b"event: content_chunk")
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--streams", type=int, default=5)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"reference": [], "peer": []}
    with ExitStack() as stack:
        running = {name: stack.enter_context(server(name, **NO_DELAY)) for name in rates}
        for name in rates:  # warm up
            events_per_second(running[name].url, 1)
        for _ in range(args.repeat):
            for name in rates:
                rates[name].append(events_per_second(running[name].url, args.streams))
    print(f"B1 single-stream throughput, {args.streams} streams x 4096 tokens, {args.repeat} alternating runs")
    print(f"{'server':<10} {'median ev/s':>12} {'min':>10} {'max':>10}")
    for name, values in rates.items():
        print(f"{name:<10} {statistics.median(values):>12,.0f} {min(values):>10,.0f} {max(values):>10,.0f}")
    ratio = statistics.median(rates["reference"]) / statistics.median(rates["peer"])
    print(f"ratio reference / peer: {ratio:.2f}x (goal >= 2)")


if __name__ == "__main__":
    main()
