"""Heartbeat timing, and the loop lag that may excuse a late stamp, on hand-built histories.

Times at each bound's edge are binary fractions (0.375, 0.109375...): exact as floats, so a
bound is met exactly, not within rounding.
"""

from __future__ import annotations

import pytest

from harness.checks import Status
from harness.checks.lag import lag_at, lag_histograms, lag_summary
from harness.histograms import PRECISION, Histogram
from harness.history import HARNESS, Kind, harness_loop
from tests.helpers.histories import HistoryBuilder, found, judge, status

NOTE = " ({} lagged: timing may be the harness's fault)"


def beating(*beats: float, end: float | None = None, tolerance: float = 0.125) -> HistoryBuilder:
    """One connection answered, body and all, at 0 s, with heartbeats every 0.25 s give or take
    `tolerance`, at `beats`; it completes at `end` (by default with the last beat)."""
    builder = HistoryBuilder(chunks=1).change(expect={"heartbeat_tolerance": tolerance})
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(*beats)
    builder.complete(beats[-1] if end is None else end)
    return builder


def passed(judged: int, tolerance_ms: int = 125, excluded: int = 0, forgiven: int = 0, lag_ms: int = 0) -> str:
    """The pass detail for heartbeats every 0.25 s."""
    return (
        f"{judged} intervals within ±{tolerance_ms} ms of 0.25 s (plus the slack of a fault they lay in);"
        f" {excluded} not judged: a fault's edge touched them; {forgiven} forgiven: the loop that stamped them"
        f" lagged, by up to {lag_ms} ms"
    )


# --- intervals and their tolerance --------------------------------------------------------------


def test_one_judged_interval_is_said_in_the_singular() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(0.25)
    builder.complete(0.25)
    assert found("heartbeat_timing", builder.history)[1].startswith("2 intervals within")
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0)
    builder.complete(0.25)
    assert found("heartbeat_timing", builder.history)[1].startswith("1 interval within")


def test_heartbeat_timing_fails_when_a_heartbeat_is_skipped() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.heartbeats(0.25, 0.5, 1.0, 1.25)
    builder.complete(1.3)
    assert found("heartbeat_timing", builder.history)[1] == "c0#0: heartbeats 0.500 s apart, expected 0.25 s"


@pytest.mark.parametrize(
    ("sent", "said"),
    [((0.25, 0.5), "; sent 0.250 s apart"), ((0.25, 0.75), "; sent 0.500 s apart"), ((0.25, None), "")],
)
def test_a_late_heartbeat_says_how_far_apart_the_server_sent_it(sent: tuple[float, float | None], said: str) -> None:
    """Sent on time and read late: the delay came after the server (the link, the harness); sent
    late: the server was late. The verdict fails either way, and says which (when the server says)."""
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.heartbeat(0.25, uptime=sent[0])
    builder.heartbeat(0.75, uptime=sent[1])
    builder.complete(0.8)
    assert found("heartbeat_timing", builder.history)[:2] == (
        Status.FAIL,
        f"c0#0: heartbeats 0.500 s apart, expected 0.25 s{said}",
    )


def test_heartbeat_timing_fails_when_no_heartbeat_ever_comes() -> None:
    builder = HistoryBuilder(chunks=8)
    builder.connect(0.0)
    for seq in range(8):
        builder.chunk(0.1 * (seq + 1), seq)
    builder.complete(0.9)
    assert status("heartbeat_timing", builder.history) == Status.FAIL


@pytest.mark.parametrize(
    ("gap", "problem"),
    [
        (0.375, None),  # late by exactly the tolerance
        (0.125, None),  # early by exactly the tolerance
        (0.390625, "c0#0: heartbeats 0.391 s apart, expected 0.25 s"),
        (0.109375, "c0#0: heartbeats 0.109 s apart, expected 0.25 s"),
    ],
)
def test_an_interval_off_by_the_tolerance_passes_and_one_off_by_more_fails(gap: float, problem: str | None) -> None:
    result = judge("heartbeat_timing", beating(0.25, 0.25 + gap, 0.5 + gap).history)
    assert result.detail == (problem or passed(4))
    assert result.evidence["intervals_forgiven_for_harness_lag"] == 0


@pytest.mark.parametrize(
    ("gap", "problem"),
    [
        (0.0625, "c0#0: heartbeats 0.062 s apart, expected 0.25 s"),  # early
        (0.001953125, "c0#0: heartbeats 0.002 s apart, expected 0.25 s"),  # early by almost all: still read apart
        (0.0009765625 / 2, "c0#0: burst: heartbeats 0.000 s apart, expected 0.25 s"),  # one read (under 1 ms)
        (0.0, "c0#0: burst: heartbeats 0.000 s apart, expected 0.25 s"),
    ],
)
def test_heartbeats_read_together_are_named_a_burst(gap: float, problem: str) -> None:
    """What a buffering proxy does: it holds heartbeats back and lets them go together, in one read."""
    builder = beating(0.25, 0.5, 0.5 + gap, 0.75 + gap, tolerance=0.0625)
    assert found("heartbeat_timing", builder.history)[1] == problem


def test_the_evidence_gives_error_percentiles_the_lag_forgiven_and_the_longest_silence() -> None:
    """Errors 1.234, 1.456, 1.2 (early) and 201.343 ms; the last forgiven, its stamp having waited
    123.519 ms. The percentiles are the histograms' (HdrHistogram keeps values under 2.048 ms to
    the microsecond, and 201.343 and 123.519 ms are the tops of their buckets: both exact)."""
    builder = beating(0.25, 0.501234, 0.75269, 1.00149, 1.452833)
    builder.loop_lag(1.452833, 123_519)
    assert found("heartbeat_timing", builder.ordered())[2] == {
        "error_p50_ms": 1.23,
        "error_p99_ms": 201.34,
        "error_max_ms": 201.34,
        "interval_s": 0.25,
        "tolerance_s": 0.125,
        "intervals_checked": 6,
        "intervals_excluded_for_faults": 0,
        "intervals_forgiven_for_harness_lag": 1,
        "largest_forgiven_lag_ms": 123.52,
        "largest_silence_s": 0.4513,
        "harness_loop_lag_p99_ms": 123.52,
        "harness_loop_lag_max_ms": 123.52,
        "percentiles": PRECISION,
    }


def test_the_pass_detail_gives_the_tolerance_and_the_largest_forgiven_lag_in_milliseconds() -> None:
    builder = HistoryBuilder(chunks=1, heartbeat=15.0)
    builder.change(expect={"heartbeat_tolerance": 0.75}, timing={"silence": None})
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(15.0, 30.0, 46.5, 61.5)  # 46.5 late by 1.5 s: 0.75 s beyond the tolerance
    builder.loop_lag(46.5, 900_000)
    builder.complete(61.5)
    assert found("heartbeat_timing", builder.ordered())[1] == (
        "5 intervals within ±750 ms of 15 s (plus the slack of a fault they lay in); 0 not judged: a fault's"
        " edge touched them; 1 forgiven: the loop that stamped them lagged, by up to 900 ms"
        + NOTE.format("the harness's own event loop")
    )


def test_comment_heartbeats_are_judged_like_heartbeat_events() -> None:
    builder = HistoryBuilder(chunks=1).change(profile={"heartbeat": "comment"})
    builder.connect(0.0, responds_after=0.0)
    for t in (0.25, 0.5, 0.75):
        builder.comment(t)
    builder.complete(0.75)
    assert found("heartbeat_timing", builder.history)[:2] == (Status.PASS, passed(4, tolerance_ms=60))


def test_only_a_200_response_s_heartbeats_are_judged() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, status=503, responds_after=0.0)
    builder.connect(0.5, responds_after=0.0)
    builder.heartbeats(0.75, 1.0)
    builder.complete(1.0)
    assert found("heartbeat_timing", builder.history)[2]["intervals_checked"] == 3


# --- the first heartbeat ------------------------------------------------------------------------


def late_first_heartbeat() -> HistoryBuilder:
    """A stream whose first heartbeat came 0.15 s late, then on time."""
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.heartbeats(0.4, 0.65, 0.9)
    builder.complete(0.95)
    return builder


@pytest.mark.parametrize(("loop_lag_ms", "expected"), [(0, Status.FAIL), (150, Status.PASS)])
def test_late_first_heartbeat_is_forgiven_only_when_the_harness_loop_lagged(loop_lag_ms: int, expected: Status) -> None:
    builder = late_first_heartbeat()
    builder.loop_lag(0.4, loop_lag_ms * 1000)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        assert result.evidence["intervals_forgiven_for_harness_lag"] == 1
    else:
        assert result.detail == "c0#0: first heartbeat 0.399 s after the body began"


def test_a_first_heartbeat_is_judged_late_from_the_first_body_byte() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0, body_after=0.25)  # the server's clock starts with the body
    builder.heartbeats(0.5, 0.75)
    builder.complete(0.75)
    assert status("heartbeat_timing", builder.history) == Status.PASS


def test_an_early_first_heartbeat_fails() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.heartbeats(0.1, 0.35, 0.6)
    builder.complete(0.65)
    expected = "c0#0: first heartbeat 0.100 s after the request, expected 0.25 s"
    assert found("heartbeat_timing", builder.history)[1] == expected


def test_an_early_first_heartbeat_on_a_reconnection_is_measured_from_its_own_request() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.heartbeats(0.25, 0.5)
    builder.connect(0.5)
    builder.heartbeats(0.6, 0.85)
    builder.complete(0.85)
    expected = "c0#1: first heartbeat 0.100 s after the request, expected 0.25 s"
    assert found("heartbeat_timing", builder.history)[1] == expected


@pytest.mark.parametrize(("first", "expected"), [(0.125, Status.PASS), (0.1171875, Status.FAIL)])
def test_a_first_heartbeat_early_by_exactly_the_tolerance_passes(first: float, expected: Status) -> None:
    assert status("heartbeat_timing", beating(first, first + 0.25).history) == expected


@pytest.mark.parametrize(("jitter_ms", "expected"), [(30, Status.PASS), (0, Status.FAIL)])
def test_jitter_widens_the_early_bound_of_a_first_heartbeat_inside_a_latency_fault(
    jitter_ms: int, expected: Status
) -> None:
    """0.15 s after the request: early by 0.1 s, beyond the 60 ms tolerance but within twice the 30 ms jitter more."""
    builder = HistoryBuilder(chunks=1)
    builder.fault(0.5, None, "latency", latency=100, jitter=jitter_ms)
    builder.connect(1.0)
    builder.heartbeats(1.15, 1.4, 1.65)
    builder.complete(1.7)
    assert status("heartbeat_timing", builder.history) == expected


def test_a_first_heartbeat_seen_early_only_because_the_body_was_stamped_late_passes() -> None:
    """A browser may stamp the first body byte late: from the request, the beat was on time."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.12, body_after=0.01)
    builder.heartbeats(0.26, 0.51, 0.76)
    builder.complete(0.8)
    assert status("heartbeat_timing", builder.history) == Status.PASS


# --- the end of a connection, and silence -------------------------------------------------------


def silent_at_the_end(with_second_beat: bool) -> HistoryBuilder:
    """The server sends nothing after 0.5 s on a healthy link; the client gives up at 1.51 s."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.heartbeat(0.251)
    if with_second_beat:
        builder.heartbeat(0.501)
    builder.add(1.51, Kind.ERROR, connection=0, detail="silence: no byte for 1 s")
    builder.give_up(1.52)
    return builder


@pytest.mark.parametrize("with_second_beat", [True, False])
def test_silence_up_to_the_end_of_a_connection_fails(with_second_beat: bool) -> None:
    result = judge("heartbeat_timing", silent_at_the_end(with_second_beat).history)
    assert result.status == Status.FAIL
    assert "silence of 1." in result.detail


def test_silence_runs_to_the_client_s_outcome_when_no_error_ended_the_connection() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(0.25, 0.5)
    builder.give_up(1.75)
    assert found("heartbeat_timing", builder.history)[1] == (
        "c0#0: no heartbeat for the last 1.250 s of the connection;"
        " silence of 1.250 s on a healthy link (threshold 1 s)"
    )


def test_a_connection_still_open_at_the_end_of_the_history_is_judged_to_its_last_read() -> None:
    builder = HistoryBuilder(chunks=3)
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(0.25, 0.5)
    for seq, t in enumerate((0.625, 0.75, 1.0)):
        builder.chunk(t, seq)
    expected = "c0#0: no heartbeat for the last 0.500 s of the connection"
    assert found("heartbeat_timing", builder.history)[1] == expected


def test_a_200_response_that_never_sent_a_byte_fails_for_want_of_a_heartbeat() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0, body_after=None)
    builder.add(1.0, Kind.ERROR, connection=0, detail="silence: no byte for 1 s")
    builder.give_up(1.0)
    expected = "c0#0: no heartbeat for the last 1.000 s of the connection"
    assert found("heartbeat_timing", builder.history)[1] == expected


@pytest.mark.parametrize(
    ("second", "problem"),
    [(0.75, "silence of 0.500 s on a healthy link (threshold 0.5 s)"), (0.7421875, None)],
)
def test_a_silence_as_long_as_the_threshold_fails(second: float, problem: str | None) -> None:
    builder = beating(0.25, second, tolerance=0.25).change(timing={"silence": 0.5})
    assert found("heartbeat_timing", builder.history)[1] == (problem or passed(3, tolerance_ms=250))


def test_heartbeat_timing_fails_on_long_silence() -> None:
    builder = HistoryBuilder(chunks=1, heartbeat=0.25)
    builder.change(timing={"silence": 0.4})
    builder.connect(0.0)
    builder.heartbeats(0.25, 0.75)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.FAIL
    assert "silence of 0.500 s" in result.detail


# --- faults -------------------------------------------------------------------------------------


def test_heartbeat_gaps_across_a_fault_are_excluded_and_jitter_widens() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.heartbeats(0.25, 0.5, 1.4, 1.65, 1.97, 2.15)
    builder.fault(0.6, 1.3, "down")
    builder.fault(1.5, 2.5, "latency", latency=100, jitter=30)
    result = judge("heartbeat_timing", builder.ordered())
    assert result.status == Status.PASS, result.detail
    assert result.evidence["intervals_excluded_for_faults"] >= 1


@pytest.mark.parametrize(("second_gap", "expected"), [(0.33, Status.PASS), (0.40, Status.FAIL)])
def test_jitter_widens_heartbeat_tolerance_inside_a_latency_window_without_excluding(
    second_gap: float, expected: Status
) -> None:
    """Jitter 30 ms widens ±60 ms to ±120 ms: 0.33 s passes, 0.40 s does not; nothing is excluded."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.heartbeats(0.251, 0.501, 0.501 + second_gap, 0.751 + second_gap)
    builder.complete(0.8 + second_gap)
    builder.fault(0.4, 5.0, "latency", latency=100, jitter=30)
    result = judge("heartbeat_timing", builder.ordered())
    assert result.status == expected, result.detail
    assert result.evidence["intervals_excluded_for_faults"] == 1  # only the span across the fault's start


@pytest.mark.parametrize("window", [(0.5, 0.625), (0.375, 0.5)])
def test_an_interval_touching_a_down_fault_at_either_end_is_not_judged(window: tuple[float, float]) -> None:
    builder = beating(0.25, 0.5, 0.75)
    builder.fault(*window, "down")
    evidence = found("heartbeat_timing", builder.history)[2]
    assert (evidence["intervals_checked"], evidence["intervals_excluded_for_faults"]) == (2, 2)


def test_an_interval_lying_exactly_on_a_latency_fault_s_edges_is_judged_with_its_slack() -> None:
    """The fault runs from the first heartbeat to the last; the second comes 0.156 s late: beyond
    the 0.125 s tolerance, within it and the jitter's 0.06 s."""
    builder = beating(0.25, 0.65625, 0.90625)
    builder.fault(0.25, 0.90625, "latency", latency=100, jitter=30)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == Status.PASS, result.detail
    evidence = result.evidence
    assert (evidence["intervals_checked"], evidence["intervals_excluded_for_faults"]) == (3, 1)


# --- loop lag -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("lag_us", "expected"), [(125_000, Status.PASS), (124_999, Status.FAIL)])
def test_a_late_interval_is_forgiven_as_far_as_the_loop_lagged_when_it_was_stamped(
    lag_us: int, expected: Status
) -> None:
    """Two heartbeats late by 0.25 s: the 0.125 s tolerance and, at most, the 0.125 s lag."""
    builder = beating(0.25, 0.75, 1.0, 1.5)
    for t in (0.75, 1.5):
        builder.loop_lag(t, lag_us)
    result = judge("heartbeat_timing", builder.ordered())
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        evidence = result.evidence
        assert (evidence["intervals_forgiven_for_harness_lag"], evidence["largest_forgiven_lag_ms"]) == (2, 125.0)


@pytest.mark.parametrize(
    ("lagged", "expected"), [("worker0", Status.PASS), ("worker1", Status.FAIL), ("", Status.FAIL)]
)
def test_a_worker_s_loop_lag_forgives_only_the_late_heartbeats_of_its_own_clients(
    lagged: str, expected: Status
) -> None:
    """Client c0 ran in worker 0: its stamps may be late by worker 0's lag, never by worker 1's
    nor by the coordinator's (another process, its loop free or blocked on its own)."""
    builder = beating(0.25, 0.75, 1.0, 1.5)
    builder.history.loops["c0"] = harness_loop("worker0")
    for t in (0.75, 1.5):
        builder.loop_lag(t, 125_000, loop=lagged)
    result = judge("heartbeat_timing", builder.ordered())
    assert result.status == expected, result.detail
    assert result.evidence["harness_loop_lag_max_ms"] == 125.05  # every loop of the harness, workers' too
    whose = f"the event loop of the harness's {lagged}" if lagged else "the harness's own event loop"
    assert result.detail.endswith(NOTE.format(whose))  # the loop that lagged, not c0's own: by name


@pytest.mark.parametrize(("sampled_by", "expected"), [("c0", Status.PASS), ("c1", Status.FAIL)])
def test_a_pages_own_loop_lag_forgives_only_that_pages_late_heartbeat(sampled_by: str, expected: Status) -> None:
    builder = late_first_heartbeat()
    builder.loop_lag(0.4, 150_015, sampled_by)  # a browser client's page lagged (a bucket's top: read exactly)
    builder.loop_lag(0.4, 1_000)
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    assert result.evidence["page_loop_lag_max_ms"] == 150.02
    assert result.evidence["harness_loop_lag_max_ms"] == 1
    if expected == Status.FAIL:
        assert "a browser page's event loop lagged" in result.detail


@pytest.mark.parametrize(("loop_lag_ms", "expected"), [(0, Status.FAIL), (200, Status.PASS)])
def test_early_gap_after_a_late_stamp_and_a_quiet_tail_are_forgiven_only_for_harness_lag(
    loop_lag_ms: int, expected: Status
) -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.heartbeats(0.25, 0.6, 0.75)  # 0.6 stamped late: 0.35 then 0.15 apart
    builder.loop_lag(0.59, loop_lag_ms * 1000)  # sampled just before
    builder.loop_lag(1.2, loop_lag_ms * 1000)
    builder.complete(1.2)  # 0.45 s without a heartbeat at the end
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.FAIL:
        assert "0.150 s apart" in result.detail
        assert "last 0.450 s" in result.detail


def beats_with_a_late_one(lag_at: float, lag_ms: int) -> HistoryBuilder:
    """Heartbeats 0.25 s apart but one 0.55 s after the last, and one loop-lag sample."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.heartbeats(0.251, 0.501, 1.051, 1.301)
    builder.complete(1.35)
    builder.loop_lag(lag_at, lag_ms * 1000)
    builder.ordered()
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


@pytest.mark.parametrize(
    ("waited_at", "waited_ms", "expected"),
    [
        (1.06, 300, Status.PASS),  # Toxiproxy waited for a CPU when the late heartbeat went through it
        (0.80, 300, Status.FAIL),  # it waited before: that could only have delayed the earlier heartbeat
        (1.06, 100, Status.FAIL),  # it waited then, but less than the heartbeat was late
    ],
)
def test_a_carrier_s_wait_for_a_cpu_forgives_only_a_stamp_it_overlapped_and_only_as_far_as_it_lasted(
    waited_at: float, waited_ms: int, expected: Status
) -> None:
    builder = beats_with_a_late_one(2.0, 0)  # the harness's own loop never lagged
    builder.cpu_wait(waited_at, waited_ms * 1000)
    result = judge("heartbeat_timing", builder.ordered())
    assert result.status == expected, result.detail
    assert result.evidence["cpu_wait_toxiproxy_max_ms"] == waited_ms
    if expected == Status.PASS:
        assert (
            "1 forgiven: the loop that stamped them lagged, or a process carrying the stream waited for a CPU,"
            " by up to 300 ms"
        ) in result.detail


@pytest.mark.parametrize(("stamped", "lag"), [(0.75, 0.25), (1.0625, 0.25), (0.7421875, 0.0), (1.0703125, 0.0)])
def test_a_lag_sample_covers_the_stamps_from_the_block_s_start_to_one_sampling_period_after_it(
    stamped: float, lag: float
) -> None:
    """Sampled at 1 s, 0.25 s late: the loop was blocked from 0.75 s, its backlog drained by 1.0625 s."""
    assert lag_at([(1.0, 0.25)], stamped, after_sample=0.0625) == lag


@pytest.mark.parametrize(("lag_us", "note"), [(62_500, ""), (62_510, NOTE.format("the harness's own event loop"))])
def test_a_loop_lag_beyond_half_the_tolerance_is_noted(lag_us: int, note: str) -> None:
    builder = beating(0.25, 0.5, 0.75)
    builder.loop_lag(0.5, lag_us)
    assert found("heartbeat_timing", builder.ordered())[1] == passed(4) + note


def test_a_long_cpu_wait_is_no_loop_lag_and_earns_no_lag_note() -> None:
    builder = beating(0.25, 0.5, 0.75)
    builder.cpu_wait(0.5, 100_000)
    assert "timing may be the harness's fault" not in found("heartbeat_timing", builder.ordered())[1]


def test_the_error_percentiles_are_the_errors_at_their_rank() -> None:
    """Intervals 10 µs, 20 µs ... 1 ms longer than 0.25 s (each kept exactly)."""
    beats = [0.25]
    for k in range(1, 101):
        beats.append(round(beats[-1] + 0.25 + k * 1e-5, 6))
    evidence = found("heartbeat_timing", beating(*beats).history)[2]
    assert [evidence[f"error_{which}_ms"] for which in ("p50", "p99", "max")] == [0.5, 0.99, 1.0]


def test_the_error_max_is_the_largest_error_s_bucket_and_p99_the_error_at_its_rank() -> None:
    """100 intervals exact, one 2 ms long: the p99 is 0, the max 2 ms."""
    builder = beating(*(0.25 * n for n in range(1, 102)), 25.502)
    evidence = found("heartbeat_timing", builder.ordered())[2]
    assert (evidence["error_p99_ms"], evidence["error_max_ms"]) == (0.0, 2.0)


def test_no_loop_lag_sampled_means_no_lag_note_however_tight_the_tolerance() -> None:
    builder = beating(0.25, 0.5, 0.75, tolerance=0.001)
    assert found("heartbeat_timing", builder.history)[1] == passed(4, tolerance_ms=1)


@pytest.mark.parametrize(
    ("lags_us", "whose"),
    [
        ({HARNESS: 100_000}, "the harness's own event loop"),
        ({HARNESS: 100_000, "c0": 100_000}, "the harness's own event loop"),
        ({HARNESS: 1_000, "c0": 100_000}, "a browser page's event loop"),
        ({HARNESS: 1_000, "c0": 100_000, "c1": 1_000}, "a browser page's event loop"),  # the most of any page
        ({HARNESS: 1_000, "harness:shard1:worker0": 100_000}, "the event loop of the harness's shard1:worker0"),
    ],
)
def test_the_lag_note_names_the_loop_that_lagged_most_the_harness_s_on_a_tie(
    lags_us: dict[str, int], whose: str
) -> None:
    builder = beating(0.25, 0.5, 0.75)
    for sampler, lag_us in lags_us.items():
        if sampler.startswith(f"{HARNESS}:"):  # another loop of the harness: its lag samples name it
            builder.loop_lag(0.5, lag_us, loop=sampler.removeprefix(f"{HARNESS}:"))
        else:
            builder.loop_lag(0.5, lag_us, sampler)
    assert found("heartbeat_timing", builder.ordered())[1] == passed(4) + NOTE.format(whose)


def test_the_verdict_keeps_each_interval_s_error_either_way_and_each_silence_in_histograms() -> None:
    """Errors 1.234, 1.456, 1.2 (early) and 201.343 ms; silences from the body's start to its end."""
    result = judge("heartbeat_timing", beating(0.25, 0.501234, 0.75269, 1.00149, 1.452833).history)
    assert result.histograms == {
        "heartbeat_error": Histogram.of("heartbeat_error", [0.001234, 0.001456, 0.0012, 0.201343]),
        "silence": Histogram.of("silence", [0.25, 0.251234, 0.251456, 0.2488, 0.451343, 0.0, 0.0]),
    }
    assert result.evidence["percentiles"] == PRECISION


def test_an_interval_a_fault_s_edge_touched_is_in_no_histogram() -> None:
    """Errors 1, 2 and 3 ms; the last two intervals touch an outage, and so do their silences."""
    builder = beating(0.25, 0.501, 0.753, 1.006)
    builder.fault(0.6, 0.8, "down")
    histograms = judge("heartbeat_timing", builder.ordered()).histograms
    assert histograms["heartbeat_error"] == Histogram.of("heartbeat_error", [0.001])
    assert histograms["silence"] == Histogram.of("silence", [0.25, 0.251, 0.0, 0.0])


def test_a_failed_verdict_keeps_its_histograms_too() -> None:
    result = judge("heartbeat_timing", beating(0.25, 0.640625, 0.890625).history)
    assert result.status is Status.FAIL
    assert result.histograms["heartbeat_error"] == Histogram.of("heartbeat_error", [0.140625, 0.0])


@pytest.mark.parametrize(("lagged", "kept"), [(False, ["silence"]), (True, ["harness_loop_lag", "silence"])])
def test_one_heartbeat_keeps_no_error_histogram_and_gives_percentiles_only_of_the_lag(
    lagged: bool, kept: list[str]
) -> None:
    builder = beating(0.25)
    if lagged:
        builder.loop_lag(0.1, 1234)
    result = judge("heartbeat_timing", builder.ordered())
    assert sorted(result.histograms) == kept
    assert "error_p50_ms" not in result.evidence
    assert ("percentiles" in result.evidence) is lagged


def test_the_lag_summary_gives_the_longest_cpu_wait_of_each_carrier_in_milliseconds() -> None:
    samples = {
        "cpu_wait:toxiproxy": [(0.1, 0.0123456), (0.2, 0.002)],
        HARNESS: [(0.1, 0.001234)],
        "cpu_wait:target": [(0.3, 0.0045678)],
    }
    assert lag_summary(samples, lag_histograms(samples)) == {
        "cpu_wait_toxiproxy_max_ms": 12.35,
        "cpu_wait_target_max_ms": 4.57,
        "harness_loop_lag_p99_ms": 1.23,
        "harness_loop_lag_max_ms": 1.23,
    }


def test_the_lag_summary_s_p99_is_the_lag_at_its_rank_and_its_max_the_largest_s_bucket() -> None:
    samples = {HARNESS: [(0.1 * n, 0.001) for n in range(100)] + [(10.0, 0.002)]}
    assert lag_summary(samples, lag_histograms(samples)) == {
        "harness_loop_lag_p99_ms": 1.0,
        "harness_loop_lag_max_ms": 2.0,
    }


def test_the_lag_summary_gives_the_harness_s_lag_and_all_pages_together_in_milliseconds() -> None:
    """p99 from the histograms: of three samples, the largest; of two, the larger (12.351 and 3.501 ms
    are the tops of their buckets, read exactly)."""
    samples = {
        HARNESS: [(0.1, 0.001234), (0.2, 0.005678), (0.3, 0.012351)],
        "c0": [(0.1, 0.003501)],
        "c1": [(0.2, 0.002)],
    }
    histograms = lag_histograms(samples)
    assert histograms == {
        "harness_loop_lag": Histogram.of("harness_loop_lag", [0.001234, 0.005678, 0.012351]),
        "page_loop_lag": Histogram.of("page_loop_lag", [0.003501, 0.002]),
    }
    assert lag_summary(samples, histograms) == {
        "harness_loop_lag_p99_ms": 12.35,
        "harness_loop_lag_max_ms": 12.35,
        "page_loop_lag_p99_ms": 3.5,
        "page_loop_lag_max_ms": 3.5,
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:8000/stream/search", Status.PASS), ("http://sse.test/stream/search", Status.FAIL)],
)
def test_lag_anywhere_in_a_late_span_forgives_it_only_for_a_target_on_this_machine(url: str, expected: Status) -> None:
    """The harness blocked 300 ms before the late heartbeat arrived: it could not have stamped it
    late, but it took a core from a server on the same machine, which then sent late."""
    builder = beats_with_a_late_one(0.80, 300)
    builder.change(request={"url": url})
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        assert "1 forgiven: the loop that stamped them lagged (or took the CPU from the target on this machine)," in (
            result.detail
        )


def test_lag_in_a_span_on_this_machine_still_forgives_no_more_than_it_lasted() -> None:
    builder = beats_with_a_late_one(0.80, 200)  # 300 ms late, 60 ms tolerance: 40 ms short
    builder.change(request={"url": "http://localhost:8000/stream/search"})
    assert judge("heartbeat_timing", builder.history).status == Status.FAIL


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:8000/stream/search", Status.PASS), ("http://sse.test/stream/search", Status.FAIL)],
)
def test_a_heartbeat_held_back_on_this_machine_forgives_the_short_span_after_it(url: str, expected: Status) -> None:
    """The loop blocked 120 ms while the third heartbeat was due: it came 100 ms late, and the next
    one on time, 0.15 s after it. On this machine both spans are forgiven; for a remote target neither."""
    builder = HistoryBuilder(chunks=1).change(request={"url": url})
    builder.connect(0.0)
    builder.heartbeats(0.251, 0.501, 0.851, 1.001)
    builder.complete(1.05)
    builder.loop_lag(0.70, 120_000)
    builder.ordered()
    result = judge("heartbeat_timing", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.PASS:
        assert result.evidence["intervals_forgiven_for_harness_lag"] == 2
    else:
        assert "heartbeats 0.350 s apart" in result.detail
        assert "heartbeats 0.150 s apart" in result.detail
