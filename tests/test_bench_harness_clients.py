"""B3's reading of a run (bench/harness_clients_summary.py): what its table says of a history."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from harness.history import HARNESS, History, Kind, harness_loop

SECOND_NS = 1_000_000_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _load_summary() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "bench" / "harness_clients_summary.py"
    spec = importlib.util.spec_from_file_location("harness_clients_summary", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


summary = _load_summary()


def beat(history: History, client: str, seen_s: float, stamped_s: float, connection: int = 0) -> None:
    stamp = (T0 + timedelta(seconds=stamped_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    history.add_at(
        int(seen_s * SECOND_NS),
        client,
        Kind.EVENT,
        connection=connection,
        event="heartbeat",
        data=json.dumps({"timestamp": stamp}),
    )


def connect(history: History, client: str, at_s: float = 0.0) -> None:
    history.add_at(int(at_s * SECOND_NS), client, Kind.ATTEMPT, connection=0)
    history.add_at(int(at_s * SECOND_NS), client, Kind.RESPONSE, connection=0, status=200)


def streaming(clients: int = 2, late_ms: float = 2.0) -> History:
    """`clients` clients, each seeing beats 1 s apart as stamped, but for one `late_ms` late."""
    history = History()
    for n in range(clients):
        connect(history, f"c{n}")
        for k in range(1, 5):
            beat(history, f"c{n}", k + (late_ms / 1000 if k == 3 else 0), k)
    return history


def test_timing_error_is_observed_minus_stamped_interval_in_the_window_only() -> None:
    history = streaming(clients=1, late_ms=4.0)
    beat(history, "c0", 0.0, -1.5)  # before the window: its 0.5 s error is not counted
    errors = summary.timing_errors_ms(history, window_start_ns=SECOND_NS // 2)
    assert errors == pytest.approx([0.0, 4.0, 4.0])


def test_timing_errors_pair_beats_within_one_connection_only() -> None:
    history = History()
    beat(history, "c0", 1.0, 1.0, connection=0)
    beat(history, "c0", 7.0, 2.0, connection=1)  # a reconnection: no interval across it
    beat(history, "c0", 8.0, 3.0, connection=1)
    assert summary.timing_errors_ms(history, 0) == pytest.approx([0.0])


def test_server_lateness_is_against_the_connections_own_schedule() -> None:
    history = History()
    for seen, stamped in ((1.0, 1.0), (2.0, 2.0), (3.1, 3.030), (4.0, 4.0), (6.0, 6.005)):  # 5 skipped
        beat(history, "c0", seen, stamped)
    assert summary.server_lateness_ms(history, 0) == pytest.approx(
        [0.0, 0.0, 30.0, 0.0, 5.0], abs=1e-3
    )  # epoch seconds in a float: µs


def test_server_lateness_when_the_windows_first_beat_was_itself_late() -> None:
    history = History()
    for stamped in (1.030, 2.0, 3.0):
        beat(history, "c0", stamped, stamped)
    assert summary.server_lateness_ms(history, 0) == pytest.approx([30.0, 0.0, 0.0], abs=1e-3)


def test_a_run_where_every_client_streams_on_time_holds() -> None:
    history = streaming(clients=3)
    history.add_at(2 * SECOND_NS, HARNESS, Kind.LOOP_LAG, lag_us=1500)
    history.add_at(2 * SECOND_NS, HARNESS, Kind.CPU_WAIT, event="target", lag_us=7000)
    history.add_at(2 * SECOND_NS, HARNESS, Kind.CPU_WAIT, event="toxiproxy", lag_us=9000)
    run = summary.read_run(history, 3, window_start_ns=0, ramp_seconds=0.9)
    assert (run.connected, run.connect_failures, run.errors, run.intervals) == (3, 0, Counter(), 9)
    assert run.error_p99_ms == pytest.approx(2.0, abs=0.1)
    assert run.harness_lag_p99_ms == pytest.approx(1.5)
    assert run.server_cpu_wait_max_ms == pytest.approx(7.0)  # the server's wait, not another role's
    assert run.held


@pytest.mark.parametrize(("workers", "lag_p99_ms"), [(0, 1.5), (2, 40.0)])
def test_the_lag_read_is_that_of_the_loops_that_ran_the_clients(workers: int, lag_p99_ms: float) -> None:
    """In one process, its own loop's; over worker processes, theirs (the coordinator's only collects)."""
    history = streaming(clients=2)
    history.loops = {f"c{n}": harness_loop(f"worker{n}") for n in range(workers)}
    history.add_at(2 * SECOND_NS, HARNESS, Kind.LOOP_LAG, lag_us=1500)
    history.add_at(2 * SECOND_NS, HARNESS, Kind.LOOP_LAG, event="worker1", lag_us=40_000)
    assert summary.read_run(history, 2, 0, 0.9).harness_lag_p99_ms == pytest.approx(lag_p99_ms)


@pytest.mark.parametrize(
    ("clients", "late_ms", "error"),
    [
        (4, 2.0, None),  # a client never had its headers
        (3, 11.0, None),  # timing error p99 over 10 ms
        (3, 2.0, "silence: no byte for 5 s"),  # a client erred, though it came back
    ],
)
def test_a_run_holds_only_when_every_client_streams_on_time(clients: int, late_ms: float, error: str | None) -> None:
    history = streaming(clients=3, late_ms=late_ms)
    if error is not None:
        history.add_at(SECOND_NS, "c1", Kind.ERROR, connection=0, detail=error)
    assert not summary.read_run(history, clients, 0, None).held


def test_a_run_with_nothing_measured_does_not_hold_and_shows_dashes_not_inf() -> None:
    history = History()
    history.add_at(0, "c0", Kind.ATTEMPT, connection=0)
    history.add_at(SECOND_NS, "c0", Kind.ERROR, connection=0, detail="no response headers within 20 s")
    run = summary.read_run(history, 1, 0, None)
    assert (run.connected, run.connect_failures, run.intervals, run.error_p99_ms) == (0, 1, 0, None)
    assert not run.held
    shown = summary.format_row("1 run 1", 10, summary.row(run))
    assert "inf" not in shown
    assert shown.split()[-7:] == ["-", "-", "-", "-", "-", "0.0", "0"]


def test_errors_are_grouped_by_kind_bounded_and_escaped() -> None:
    history = streaming(clients=1)
    hostile = "connection cut: \x1b[31m" + "x" * 500
    for detail in ["silence: no byte for 5 s"] * 3 + [hostile] + [f"kind {n}" for n in range(5)]:
        history.add_at(SECOND_NS, "c0", Kind.ERROR, connection=0, detail=detail)
    run = summary.read_run(history, 1, 0, None)
    assert run.errors.total() == 9
    assert run.errors["silence: no byte for 5 s"] == 3
    escaped = next(kind for kind in run.errors if kind.startswith("connection cut"))
    assert "\x1b" not in escaped
    assert escaped.startswith("connection cut: \\x1b[31m")
    assert len(escaped) <= summary.ERROR_KIND_CHARS + 10  # cut, with an ellipsis, escapes a few more
    lines = summary.error_lines(run)
    assert lines[0] == "       3 x silence: no byte for 5 s"
    assert len(lines) == summary.SHOWN_ERROR_KINDS + 1
    assert lines[-1] == "       3 x other errors, of 3 more kinds"


def test_the_median_row_is_each_columns_median_and_dashes_where_a_run_measured_nothing() -> None:
    runs = [
        summary.read_run(streaming(clients=3, late_ms=late), 3, 0, ramp)
        for late, ramp in ((2, 1.0), (6, None), (4, 3.0))
    ]
    medians = summary.median_row(runs)
    columns = [title for title, _ in summary.COLUMNS]
    assert medians[columns.index("connected")] == 3
    assert medians[columns.index("err p99 ms")] == pytest.approx(runs[2].error_p99_ms)
    assert medians[columns.index("ramp s")] is None


def test_listen_overflows_are_read_from_tcpext_in_netstat() -> None:
    netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 2050 2051\nIpExt: InNoRoutes\nIpExt: 0\n"
    assert summary.listen_overflows(netstat) == 2050
    with pytest.raises(ValueError, match="ListenOverflows"):
        summary.listen_overflows("IpExt: InNoRoutes\nIpExt: 0\n")


def test_a_runs_listen_overflows_are_shown_in_the_last_column() -> None:
    run = summary.read_run(streaming(), 2, 0, 1.0, listen_overflows=76)
    assert summary.format_row("2 run 1", 10, summary.row(run)).split()[-1] == "76"
