"""The parser benchmark in instructions instead of seconds: callgrind counts the instructions
each parser spends on the same bytes, a figure a shared, noisy machine repeats exactly.

Run by hand (needs valgrind): .venv/bin/python bench/parser_instructions.py [--megabytes 2]
Each parser runs in its own process under callgrind; a process that builds the stream and
parses nothing is subtracted, so what is left is the parsing alone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from functools import partial

from parser_throughput import chunks, events_parsed, httpx_sse, realistic_stream

from harness.sse import COMPILED, PythonSSEParser, SSEParser

PARSERS = {
    "nothing": lambda pieces: 0,
    "sse-chaos": partial(events_parsed, SSEParser),
    "sse-chaos (python)": partial(events_parsed, PythonSSEParser),
    "httpx-sse": httpx_sse,
}
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(name: str, megabytes: float) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    command += ["--megabytes", str(megabytes), "--parse", name]
    env = os.environ | {"PYTHONHASHSEED": "0"}  # the same hashing in every run: the same count
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True, env=env)
    match = _COLLECTED.search(result.stderr)
    if match is None:
        raise SystemExit(f"error: callgrind printed no instruction count for {name}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=2)
    parser.add_argument("--parse", choices=PARSERS, help=argparse.SUPPRESS)  # the measured child
    args = parser.parse_args()
    if args.parse is not None:
        PARSERS[args.parse](chunks(realistic_stream(args.megabytes)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("error: valgrind is not installed (apt-get install valgrind)")
    if not COMPILED:
        raise SystemExit("error: the compiled parser is not built: pip install -e .")
    counts = {name: instructions(name, args.megabytes) for name in PARSERS}
    baseline = counts.pop("nothing")
    spent = {name: count - baseline for name, count in counts.items()}
    print(f"{args.megabytes:g} MB, instructions spent parsing (callgrind)")
    print(f"{'parser':<19} {'instructions':>14} {'vs httpx-sse':>13}")
    for name, count in spent.items():
        print(f"{name:<19} {count:>14,} {spent['httpx-sse'] / count:>12.2f}x")


if __name__ == "__main__":
    main()
