"""Events/s parsed: harness.sse.SSEParser (compiled, and its Python twin) vs httpx-sse's
decoder, same bytes, same run.

Run by hand: .venv/bin/python bench/parser_throughput.py [--megabytes 10] [--repeat 5]
httpx-sse gets the line splitting httpx does for it (its LineDecoder over decoded text),
so every side goes from raw bytes to events.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial

from httpx._decoders import LineDecoder, TextDecoder
from httpx_sse._decoders import SSEDecoder

from harness.sse import COMPILED, Event, PythonSSEParser, SSEParser

CHUNK_BYTES = 4096


def realistic_stream(megabytes: float) -> bytes:
    parts, size, seq = [], 0, 0
    while size < megabytes * 1_000_000:
        data = {
            "stream_id": "0123456789abcdef",
            "trace_id": "a" * 32,
            "seq": seq,
            "content": " café 東京 stream",
            "tokens": 3,
        }
        part = f"id: 0123456789abcdef:{seq}\nevent: content_chunk\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        if seq % 10 == 9:
            part += 'event: heartbeat\ndata: {"uptime_seconds": 1.5, "heartbeat_count": 3}\n\n'
        encoded = part.encode()
        parts.append(encoded)
        size += len(encoded)
        seq += 1
    return b"".join(parts)


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def events_parsed(parser_type: type[PythonSSEParser], pieces: list[bytes]) -> int:
    parser = parser_type()
    return sum(isinstance(item, Event) for piece in pieces for item in parser.feed(piece))


def httpx_sse(pieces: list[bytes]) -> int:
    text, lines, decoder = TextDecoder("utf-8"), LineDecoder(), SSEDecoder()
    count = 0
    for piece in pieces:
        for line in lines.decode(text.decode(piece)):
            if decoder.decode(line) is not None:
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pieces = chunks(realistic_stream(args.megabytes))
    parsers: dict[str, Callable[[list[bytes]], int]] = {"sse-chaos": partial(events_parsed, SSEParser)}
    if COMPILED:
        parsers["sse-chaos (python)"] = partial(events_parsed, PythonSSEParser)
    parsers["httpx-sse"] = httpx_sse
    timings: dict[str, list[float]] = {name: [] for name in parsers}
    events: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, parse in parsers.items():
            started = time.perf_counter()
            events[name] = parse(pieces)
            timings[name].append(time.perf_counter() - started)
    implementation = "compiled" if COMPILED else "python: the compiled parser is not built"
    print(f"{args.megabytes:g} MB in {CHUNK_BYTES}-byte reads, {args.repeat} alternating runs, median")
    print(f"harness.sse.SSEParser: {implementation}")
    print(f"{'parser':<19} {'events':>9} {'seconds':>8} {'events/s':>12} {'vs httpx-sse':>13}")
    baseline = statistics.median(timings["httpx-sse"])
    for name, runs in timings.items():
        median = statistics.median(runs)
        rate, ratio = events[name] / median, baseline / median
        print(f"{name:<19} {events[name]:>9} {median:>8.3f} {rate:>12,.0f} {ratio:>12.2f}x")


if __name__ == "__main__":
    main()
