"""B3's reading of one run of one step: what the clients' history says, as the table's columns.
Pure functions of the history, so that a run of clients split over worker processes (a merged
history) is read the same way as a run in one process."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np

from harness.history import HARNESS, History, Kind, Record, harness_loop
from harness.untrusted import printable

GOAL_P99_MS = 10.0
ERROR_KIND_CHARS = 80  # an error's text is the client's, from a server's words: bounded, escaped
SHOWN_ERROR_KINDS = 4


@dataclass(frozen=True)
class StepRun:
    """One run of one step. `errors` count every client error from the first connection on; the
    timing figures come from the window alone. None: nothing was measured."""

    clients: int
    connected: int  # clients that received response headers
    connect_failures: int  # connection attempts that ended without response headers
    errors: Counter[str]  # by kind (the client's reason, bounded and printable)
    intervals: int  # heartbeat intervals measured in the window
    error_p50_ms: float | None
    error_p99_ms: float | None
    ramp_seconds: float | None  # from the first connection to the last client's headers; None: some never got them
    harness_lag_p99_ms: float | None  # the lag of the event loops that ran the clients, in the window
    server_late_p99_ms: float | None  # how late the server stamped heartbeats against its own schedule
    server_cpu_wait_max_ms: float  # the longest the server's loop waited for a CPU in the window
    # connections a listening socket had no room for (its accept backlog full) during the run: the
    # kernel counts them for the whole machine, so another program's listener counts too
    listen_overflows: int

    @property
    def held(self) -> bool:
        every_client_streamed = self.connected == self.clients and not self.errors
        return every_client_streamed and self.error_p99_ms is not None and self.error_p99_ms <= GOAL_P99_MS


def read_run(
    history: History, clients: int, window_start_ns: int, ramp_seconds: float | None, listen_overflows: int = 0
) -> StepRun:
    errors = timing_errors_ms(history, window_start_ns)
    responded = history.of_kind(Kind.RESPONSE)
    in_window = [record for record in history.records if record.t_ns >= window_start_ns]
    return StepRun(
        clients=clients,
        connected=len({record.client for record in responded}),
        connect_failures=len(history.of_kind(Kind.ATTEMPT)) - len(responded),
        errors=error_kinds(history),
        intervals=len(errors),
        error_p50_ms=_percentile(errors, 50),
        error_p99_ms=_percentile(errors, 99),
        ramp_seconds=ramp_seconds,
        harness_lag_p99_ms=_percentile(_client_loop_lags_ms(history, in_window), 99),
        server_late_p99_ms=_percentile(server_lateness_ms(history, window_start_ns), 99),
        server_cpu_wait_max_ms=max(_lags_ms(in_window, Kind.CPU_WAIT, role="target"), default=0.0),
        listen_overflows=listen_overflows,
    )


def listen_overflows(netstat: str) -> int:
    """TcpExt's ListenOverflows in the text of /proc/net/netstat (a line of names, then one of values)."""
    lines = netstat.splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(counters["ListenOverflows"])
    raise ValueError("no TcpExt ListenOverflows in /proc/net/netstat")


def timing_errors_ms(history: History, window_start_ns: int) -> list[float]:
    """Per client and connection: observed minus server-stamped interval between heartbeats."""
    errors = []
    for series in _heartbeats(history, window_start_ns).values():
        for (seen_a, stamped_a), (seen_b, stamped_b) in pairwise(series):
            errors.append(abs((seen_b - seen_a) / 1e9 - (stamped_b - stamped_a)) * 1000)
    return errors


def server_lateness_ms(history: History, window_start_ns: int, period: float = 1.0) -> list[float]:
    """Per connection, how late each heartbeat was stamped against the connection's schedule (one
    every `period`, its origin the earliest stamp of the window on that schedule): the server's
    own lag, which the timing error does not see (both ends of an interval move with it)."""
    lateness = []
    for series in _heartbeats(history, window_start_ns).values():
        first = series[0][1]
        offsets = [stamped - round((stamped - first) / period) * period for _seen, stamped in series]
        on_time = min(offsets)
        lateness += [(offset - on_time) * 1000 for offset in offsets]
    return lateness


def error_kinds(history: History) -> Counter[str]:
    return Counter(printable(record.detail, ERROR_KIND_CHARS) for record in history.of_kind(Kind.ERROR))


def _heartbeats(history: History, window_start_ns: int) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(seen at, stamped at) of each heartbeat in the window, per client and connection."""
    beats: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for record in history.of_kind(Kind.EVENT):
        if record.event == "heartbeat" and record.t_ns >= window_start_ns:
            stamped = datetime.fromisoformat(json.loads(record.data)["timestamp"]).timestamp()
            beats.setdefault((record.client, record.connection), []).append((record.t_ns, stamped))
    return beats


def _client_loop_lags_ms(history: History, records: list[Record]) -> list[float]:
    """The lag of the loops that stamped the clients' records: this process's, or the workers'."""
    loops = set(history.loops.values()) or {HARNESS}
    lags = (r for r in records if r.client == HARNESS and r.kind == Kind.LOOP_LAG)
    return [r.lag_us / 1000 for r in lags if harness_loop(r.event) in loops]


def _lags_ms(records: list[Record], kind: Kind, role: str = "") -> list[float]:
    return [r.lag_us / 1000 for r in records if r.client == HARNESS and r.kind == kind and r.event == role]


def _percentile(values: list[float], percent: int) -> float | None:
    return float(np.percentile(values, percent)) if values else None


# The table: a column's title and how a run's value is shown; a value of None shows as "-".
COLUMNS = (
    ("connected", "{:.0f}"),
    ("conn fail", "{:.0f}"),
    ("errors", "{:.0f}"),
    ("intervals", "{:.0f}"),
    ("err p50 ms", "{:.2f}"),
    ("err p99 ms", "{:.2f}"),
    ("ramp s", "{:.1f}"),
    ("lag p99 ms", "{:.1f}"),
    ("srv late p99", "{:.1f}"),
    ("srv wait ms", "{:.1f}"),
    ("listen ovf", "{:.0f}"),
)


def row(run: StepRun) -> list[float | None]:
    return [
        run.connected,
        run.connect_failures,
        run.errors.total(),
        run.intervals,
        run.error_p50_ms,
        run.error_p99_ms,
        run.ramp_seconds,
        run.harness_lag_p99_ms,
        run.server_late_p99_ms,
        run.server_cpu_wait_max_ms,
        run.listen_overflows,
    ]


def median_row(runs: list[StepRun]) -> list[float | None]:
    """Each column's median over the runs; a column some run measured nothing in shows nothing."""
    medians: list[float | None] = []
    for values in zip(*(row(run) for run in runs), strict=True):
        measured = [value for value in values if value is not None]
        medians.append(statistics.median(measured) if len(measured) == len(values) else None)
    return medians


def header(label_width: int) -> str:
    return " " * label_width + " ".join(f"{title:>{_width(title)}}" for title, _ in COLUMNS)


def format_row(label: str, label_width: int, values: list[float | None]) -> str:
    cells = [
        f"{'-' if value is None else shown.format(value):>{_width(title)}}"
        for (title, shown), value in zip(COLUMNS, values, strict=True)
    ]
    return f"{label:<{label_width}}" + " ".join(cells)


def error_lines(run: StepRun) -> list[str]:
    """The commonest kinds of error, most frequent first; the rest counted, not listed."""
    shown = run.errors.most_common(SHOWN_ERROR_KINDS)
    lines = [f"{count:>8} x {kind}" for kind, count in shown]
    rest = run.errors.total() - sum(count for _, count in shown)
    if rest:
        lines.append(f"{rest:>8} x other errors, of {len(run.errors) - len(shown)} more kinds")
    return lines


def _width(title: str) -> int:
    return max(len(title), 9)
