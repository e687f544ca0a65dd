"""Heartbeat timing and the duration cap, on hand-built histories."""

from __future__ import annotations

import json

import pytest

from harness.checks import Status
from harness.history import Kind
from tests.helpers.histories import HEADERS, HistoryBuilder, judge, status


def test_heartbeat_timing_fails_when_a_heartbeat_is_skipped() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    for t in (0.25, 0.5, 1.0, 1.25):
        builder.heartbeat(t)
    builder.complete(1.3)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.FAIL
    assert "0.500 s apart" in result.detail


def test_heartbeat_timing_fails_when_no_heartbeat_ever_comes() -> None:
    builder = HistoryBuilder(chunks=8)
    builder.connect(0.0)
    for seq in range(8):
        builder.chunk(0.1 * (seq + 1), seq)
    builder.complete(0.9)
    assert status("heartbeat_timing", builder.history) == Status.FAIL


def test_heartbeat_timing_fails_on_long_silence() -> None:
    builder = HistoryBuilder(chunks=1, heartbeat=0.25)
    builder.change(timing={"silence": 0.4})
    builder.connect(0.0)
    builder.heartbeat(0.25)
    builder.heartbeat(0.75)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.FAIL
    assert "silence of 0.500 s" in result.detail


def test_heartbeat_gaps_across_a_fault_are_excluded_and_jitter_widens() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    for t in (0.25, 0.5, 1.4, 1.65, 1.97, 2.15):
        builder.heartbeat(t)
    builder.fault(0.6, 1.3, "down")
    builder.fault(1.5, 2.5, "latency", latency=100, jitter=30)
    builder.history.records.sort(key=lambda r: r.t_ns)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.PASS, result.detail
    assert result.evidence["intervals_excluded_for_faults"] >= 1


def test_duration_cap_fails_when_stream_outlives_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.complete(7.0)
    assert status("duration_cap", builder.history) == Status.FAIL


def late_first_heartbeat() -> HistoryBuilder:
    """A stream whose first heartbeat came 0.15 s late, then on time."""
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    for t in (0.4, 0.65, 0.9):
        builder.heartbeat(t)
    builder.complete(0.95)
    return builder


@pytest.mark.parametrize(("loop_lag_ms", "expected"), [(0, Status.FAIL), (150, Status.PASS)])
def test_late_first_heartbeat_is_forgiven_only_when_the_harness_loop_lagged(loop_lag_ms: int, expected: Status) -> None:
    builder = late_first_heartbeat()
    builder.add(0.4, Kind.LOOP_LAG, client="harness", lag_us=loop_lag_ms * 1000)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        assert result.evidence["intervals_forgiven_for_harness_lag"] == 1


@pytest.mark.parametrize(("sampled_by", "expected"), [("c0", Status.PASS), ("c1", Status.FAIL)])
def test_a_pages_own_loop_lag_forgives_only_that_pages_late_heartbeat(sampled_by: str, expected: Status) -> None:
    builder = late_first_heartbeat()
    builder.add(0.4, Kind.LOOP_LAG, client=sampled_by, lag_us=150_000)  # a browser client's page lagged
    builder.add(0.4, Kind.LOOP_LAG, client="harness", lag_us=1_000)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    assert result.evidence["page_loop_lag_max_ms"] == 150
    assert result.evidence["harness_loop_lag_max_ms"] == 1
    if expected == Status.FAIL:
        assert "a browser page's event loop lagged" in result.detail


@pytest.mark.parametrize(("loop_lag_ms", "expected"), [(0, Status.FAIL), (200, Status.PASS)])
def test_early_gap_after_a_late_stamp_and_a_quiet_tail_are_forgiven_only_for_harness_lag(
    loop_lag_ms: int, expected: Status
) -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    for t in (0.25, 0.6, 0.75):  # 0.6 stamped late: 0.35 then 0.15 apart
        builder.heartbeat(t)
    builder.add(0.59, Kind.LOOP_LAG, client="harness", lag_us=loop_lag_ms * 1000)  # sampled just before
    builder.add(1.2, Kind.LOOP_LAG, client="harness", lag_us=loop_lag_ms * 1000)
    builder.complete(1.2)  # 0.45 s without a heartbeat at the end
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.FAIL:
        assert "0.150 s apart" in result.detail
        assert "last 0.450 s" in result.detail


def test_a_stream_past_the_cap_under_another_name_fails_the_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(6.3)  # within the 0.5 s tolerance, but past the cap and called finished
    result = judge("duration_cap", builder.history)
    assert result.status == Status.FAIL
    assert "ran 6.30 s, past the cap of 6 s, and ended with 'finished'" in result.detail


def test_a_stream_capped_at_the_cap_passes_the_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(6.05, reason="duration_cap")
    assert judge("duration_cap", builder.history).status == Status.PASS


def test_the_cap_counts_from_the_first_connection() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(5.0)
    builder.chunk(5.1, 1)
    builder.complete(6.8, reason="duration_cap")
    result = judge("duration_cap", builder.history)
    assert result.status == Status.FAIL
    assert "stream lasted 6.80 s, cap 6 s" in result.detail


def silent_at_the_end(with_second_beat: bool) -> HistoryBuilder:
    """The server sends nothing after 0.5 s on a healthy link; the client gives up at 1.51 s."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.heartbeat(0.251)
    if with_second_beat:
        builder.heartbeat(0.501)
    builder.add(1.51, Kind.ERROR, connection=0, detail="silence: no byte for 1 s")
    builder.add(1.52, Kind.OUTCOME, connection=0, outcome="gave_up", detail="gave up")
    return builder


@pytest.mark.parametrize("with_second_beat", [True, False])
def test_silence_up_to_the_end_of_a_connection_fails(with_second_beat: bool) -> None:
    result = judge("heartbeat_timing", silent_at_the_end(with_second_beat).history)
    assert result.status == Status.FAIL
    assert "silence of 1." in result.detail


def beats_with_a_late_one(lag_at: float, lag_ms: int) -> HistoryBuilder:
    """Heartbeats 0.25 s apart but one 0.55 s after the last, and one loop-lag sample."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    for t in (0.251, 0.501, 1.051, 1.301):
        builder.heartbeat(t)
    builder.complete(1.35)
    builder.add(lag_at, Kind.LOOP_LAG, client="harness", lag_us=lag_ms * 1000)
    builder.history.records.sort(key=lambda r: r.t_ns)
    return builder


@pytest.mark.parametrize(
    ("lag_at", "lag_ms", "expected"),
    [
        (1.06, 300, Status.PASS),  # the loop was blocked when the late heartbeat was stamped
        (0.80, 300, Status.FAIL),  # blocked before it arrived: it could only have delayed the earlier stamp
        (1.06, 100, Status.FAIL),  # blocked then, but by less than the heartbeat was late
    ],
)
def test_lag_forgives_only_a_stamp_it_overlapped_and_only_as_far_as_it_lasted(
    lag_at: float, lag_ms: int, expected: Status
) -> None:
    result = judge("heartbeat_timing", beats_with_a_late_one(lag_at, lag_ms).history)
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        assert result.evidence["intervals_forgiven_for_harness_lag"] == 1
        assert "1 forgiven: the loop that stamped them lagged, by up to 300 ms" in result.detail


def test_an_early_first_heartbeat_fails() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    for t in (0.1, 0.35, 0.6):
        builder.heartbeat(t)
    builder.complete(0.65)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.FAIL
    assert "c0#0: first heartbeat 0.100 s after the request, expected 0.25 s" in result.detail


def test_a_first_heartbeat_seen_early_only_because_the_body_was_stamped_late_passes() -> None:
    """A browser may stamp the first body byte late: from the request, the beat was on time."""
    builder = HistoryBuilder(chunks=1)
    builder.add(0.0, Kind.ATTEMPT, connection=0)
    builder.add(0.12, Kind.RESPONSE, connection=0, status=200, detail=json.dumps(HEADERS))
    builder.add(0.13, Kind.BYTES, connection=0, nbytes=516)
    for t in (0.26, 0.51, 0.76):
        builder.heartbeat(t)
    builder.complete(0.8)
    assert judge("heartbeat_timing", builder.history).status == Status.PASS


@pytest.mark.parametrize(("second_gap", "expected"), [(0.33, Status.PASS), (0.40, Status.FAIL)])
def test_jitter_widens_heartbeat_tolerance_inside_a_latency_window_without_excluding(
    second_gap: float, expected: Status
) -> None:
    """Jitter 30 ms widens ±60 ms to ±120 ms: 0.33 s passes, 0.40 s does not; nothing is excluded."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    for t in (0.251, 0.501, 0.501 + second_gap, 0.751 + second_gap):
        builder.heartbeat(t)
    builder.complete(0.8 + second_gap)
    builder.fault(0.4, 5.0, "latency", latency=100, jitter=30)
    builder.history.records.sort(key=lambda r: r.t_ns)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    assert result.evidence["intervals_excluded_for_faults"] == 1  # only the span across the fault's start
