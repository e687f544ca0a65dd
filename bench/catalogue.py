"""B4 and R7 by hand: the whole catalogue (or some scenarios), fast timing profile, N times in a row.

Run: .venv/bin/python bench/catalogue.py [--runs 20] [--parallel 2] [--scenario NAME ...] [--cold]
Prints each run's wall time and any failed scenario/check, then the median wall time, the
number of runs with a false failure (against the reference server every failure is one), and
the scenarios whose own wall time varies most from run to run (min, median, max).
`--cold` empties the OS page cache before each run (root only): every run then starts as the
first one on a fresh machine does, with Chromium, fonts and Python coming off disk.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

Walls = dict[str, float]  # a scenario's name: its wall seconds in one run


def run_once(report_dir: Path, parallel: int, scenarios: list[str]) -> tuple[float, int, list[str], Walls]:
    command = [sys.executable, "-m", "harness.cli", "run", "--report-dir", str(report_dir), "--parallel", str(parallel)]
    command += [argument for name in scenarios for argument in ("--scenario", name)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    summary = json.loads((report_dir / "summary.json").read_text())
    failures = [
        f"{scenario['name']}: {scenario['error'] or ''}"
        + "; ".join(f"{c['name']}: {c['detail'][:200]}" for c in scenario["checks"] if c["status"] == "fail")
        for scenario in summary["scenarios"]
        if not scenario["passed"]
    ]
    walls = {scenario["name"]: scenario["wall_seconds"] for scenario in summary["scenarios"]}
    return wall, result.returncode, failures, walls


def print_spread(per_run: list[Walls], shown: int = 5) -> None:
    """The scenarios whose wall time varies most across runs: where a catalogue's time goes astray."""
    names = {name for walls in per_run for name in walls}
    series = {name: sorted(walls[name] for walls in per_run if name in walls) for name in names}
    spread = sorted(series.items(), key=lambda item: item[1][-1] - item[1][0], reverse=True)
    print(f"{'scenario':>32} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name, seconds in spread[:shown]:
        print(f"{name:>32} {seconds[0]:>7.1f} {statistics.median(seconds):>9.1f} {seconds[-1]:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--scenario", action="append", default=[], help="repeatable; default: the catalogue")
    parser.add_argument("--cold", action="store_true", help="empty the OS page cache before each run (root)")
    args = parser.parse_args()
    walls, failed_runs, per_run = [], 0, []
    print(f"{'run':>4} {'wall s':>7} {'exit':>5}  failures")
    with tempfile.TemporaryDirectory(prefix="sse-chaos-bench-") as scratch:
        for number in range(1, args.runs + 1):
            if args.cold:
                subprocess.run(["sync"], check=True)
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            report_dir = Path(scratch) / f"run{number}"
            wall, code, failures, scenario_walls = run_once(report_dir, args.parallel, args.scenario)
            walls.append(wall)
            per_run.append(scenario_walls)
            failed_runs += bool(failures) or code != 0
            print(f"{number:>4} {wall:>7.1f} {code:>5}  {' | '.join(failures) or '-'}", flush=True)
    print(
        f"median wall {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); "
        f"runs with a false failure: {failed_runs} of {args.runs}"
    )
    print_spread(per_run)


if __name__ == "__main__":
    main()
