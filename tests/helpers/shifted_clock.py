"""`sse-chaos` on a machine whose wall clock is off by SHIFT seconds: the one seam a test shifts
(harness/shards/clock.py's `wall_ns`), the system clock left alone.

    python -m tests.helpers.shifted_clock -20 run --shard 1/2 --start-at T ...
"""

from __future__ import annotations

import sys

from harness.shards import clock


def main() -> None:
    shift_ns = round(float(sys.argv[1]) * 1e9)
    unshifted = clock.wall_ns
    clock.wall_ns = lambda: unshifted() + shift_ns
    from harness.cli import app

    sys.argv = ["sse-chaos", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
