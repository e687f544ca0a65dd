"""Hostile servers by hand: how long the harness takes to a verdict, and its peak memory.

Run: .venv/bin/python bench/hostile_servers.py [--kind random-bytes ...] [--cap 6]
Each kind of tests/helpers/hostile_servers.py serves from this process; the harness runs
`sse-chaos run --scenario baseline --target URL` against it in a child process, whose peak RSS
(its largest process: the harness, not the Toxiproxy it starts) is read from wait4's rusage.
Prints one row per kind: the exit status, seconds, peak RSS in MB and the verdict or error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the hostile servers live with the tests

from tests.helpers.hostile_servers import KINDS, Advertised, hostile_server

# The scenario's client deadline is the cap plus 10 s (`deadline = "cap + 10s"`); past this much
# more the run counts as hung and is killed.
_DEADLINE_PAST_CAP = 10.0
_HUNG_AFTER = 60.0
_KILL_AFTER_TERM = 10.0


@contextmanager
def serving(kind: str, advertised: Advertised) -> Iterator[str]:
    """A hostile server of `kind` on its own event loop in a thread, stopped when the block ends."""
    loop = asyncio.new_event_loop()
    url: Future[str] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with hostile_server(kind, advertised) as address:
            url.set_result(address)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield url.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def run_harness(url: str, report_dir: Path, limit: float) -> tuple[int, float, float]:
    """Exit status, seconds and peak RSS (MB) of one harness run. Past `limit` seconds it is asked
    to stop (SIGTERM: it stops its Toxiproxy), and 10 s later its whole process group is killed."""
    command = [sys.executable, "-m", "harness.cli", "run", "--scenario", "baseline", "--target", url]
    command += ["--report-dir", str(report_dir)]
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
                return child.returncode, time.monotonic() - started, usage.ru_maxrss / 1024
            elapsed = time.monotonic() - started
            if elapsed > limit + _KILL_AFTER_TERM:
                os.killpg(child.pid, signal.SIGKILL)
            elif elapsed > limit:
                child.send_signal(signal.SIGTERM)
            time.sleep(0.05)
    except BaseException:
        if child.returncode is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        raise


def verdict(report_dir: Path, code: int) -> str:
    """The scenario's error, or its first failed check, in one line."""
    try:
        scenario = json.loads((report_dir / "summary.json").read_text())["scenarios"][0]
    except (OSError, ValueError, LookupError):
        return "no summary.json: killed or crashed" if code else "no summary.json"
    if scenario["error"]:
        return f"error: {scenario['error']}"
    failed = [f"{c['name']}: {c['detail']}" for c in scenario["checks"] if c["status"] == "fail"]
    return failed[0] if failed else "passed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", action="append", choices=sorted(KINDS), help="repeatable; default: every kind")
    parser.add_argument("--cap", type=float, default=6.0, help="the X-Stream-Max-Seconds the servers advertise")
    args = parser.parse_args()
    advertised = Advertised(cap=args.cap)
    deadline = args.cap + _DEADLINE_PAST_CAP
    print(f"client deadline {deadline:g} s; a run past {deadline + _HUNG_AFTER:g} s is killed")
    print(f"{'kind':<20} {'exit':>4} {'seconds':>8} {'peak RSS MB':>11}  outcome")
    with tempfile.TemporaryDirectory() as work:
        for kind in args.kind or KINDS:
            report_dir = Path(work) / kind
            with serving(kind, advertised) as url:
                code, seconds, rss = run_harness(url, report_dir, deadline + _HUNG_AFTER)
            print(f"{kind:<20} {code:>4} {seconds:>8.1f} {rss:>11.0f}  {verdict(report_dir, code)[:110]}", flush=True)


if __name__ == "__main__":
    main()
