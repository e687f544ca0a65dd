"""Every check passes a good history and fails a history that violates it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.checks import CHECKS, Status
from harness.history import COLUMNS, History, Kind
from tests.helpers.histories import HEADERS, HistoryBuilder, changed, judge, judge_all


def status(check: str, history: History) -> Status:
    return judge(check, history).status


def test_a_good_history_passes_every_check() -> None:
    builder = HistoryBuilder().good_stream()
    builder.display(1.1)
    history = builder.history
    history.plan = changed(history.plan, expect={"max_reconnects": 0})
    results = {r.name: r.status for r in judge_all(history)}
    assert results == dict.fromkeys(CHECKS, Status.PASS)


def test_headers_fail_on_missing_or_malformed_header() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, {k: v for k, v in HEADERS.items() if k != "x-stream-id"} | {"x-heartbeat-interval": "soon"})
    result = judge("headers", builder.history)
    assert result.status == Status.FAIL
    assert "missing x-stream-id" in result.detail
    assert "x-heartbeat-interval is not a positive number" in result.detail


def test_headers_fail_on_wrong_content_type() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, HEADERS | {"content-type": "text/plain"})
    assert status("headers", builder.history) == Status.FAIL


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


def test_completion_fails_when_a_cap_was_expected_but_the_stream_finished() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"reason": "duration_cap"})
    result = judge("completion", history)
    assert result.status == Status.FAIL
    assert "c0: ended with reason 'finished', expected 'duration_cap'" in result.detail


def test_no_duplicates_fails_even_when_the_client_dropped_the_copy() -> None:
    builder = HistoryBuilder().good_stream()
    builder.chunk(0.95, 3, dropped=True)
    result = judge("no_duplicates", builder.history)
    assert result.status == Status.FAIL
    assert "sent twice" in result.detail


def test_no_loss_fails_on_a_gap_in_seq() -> None:
    builder = HistoryBuilder().good_stream()
    records = builder.history.records
    builder.history.records = [r for r in records if not (r.kind == "event" and '"seq": 4' in r.data)]
    result = judge("no_loss", builder.history)
    assert result.status == Status.FAIL
    assert "content seq 5 where 4 was due" in result.detail


def test_no_loss_fails_when_checksum_disagrees() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    for seq in range(8):
        builder.chunk(0.1 * (seq + 1), seq)
    builder.complete(0.9, content="something else")
    assert "content_sha256" in judge("no_loss", builder.history).detail


def test_no_loss_fails_when_answer_differs_from_baseline() -> None:
    history = HistoryBuilder().good_stream().baseline(" word0 other").history
    assert "baseline" in judge("no_loss", history).detail


def test_trace_propagation_fails_when_a_reconnection_changes_trace_id() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.5, HEADERS | {"x-trace-id": "b" * 32})
    builder.chunk(0.6, 1)
    result = judge("trace_propagation", builder.history)
    assert result.status == Status.FAIL
    assert "2 different trace ids" in result.detail


def test_trace_propagation_fails_when_an_event_carries_another_trace() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0, trace="c" * 32)
    assert status("trace_propagation", builder.history) == Status.FAIL


def test_completion_fails_on_deadline() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.add(5.0, Kind.OUTCOME, outcome="deadline", detail="no terminal event within 5 s")
    result = judge("completion", builder.history)
    assert result.status == Status.FAIL
    assert result.evidence["outcomes"] == {"deadline": 1}


@pytest.mark.parametrize(("cap", "expected"), [(100, Status.PASS), (10, Status.FAIL)])
def test_completion_fails_a_client_whose_records_were_capped(cap: int, expected: Status) -> None:
    """The good stream recorded again under a record cap: whole under 100, cut at 10."""
    built = HistoryBuilder().good_stream().history
    history = History(plan=built.plan, epoch_ns=built.epoch_ns, max_records=cap)
    for record in built.records:
        values = {name: getattr(record, name) for name in COLUMNS[3:]}
        history.add_at(record.t_ns, record.client, Kind(record.kind), **values)
    result = judge("completion", history)
    assert result.status == expected
    if expected == Status.FAIL:
        assert result.detail.startswith("c0: records capped at 10 (a client keeps at most 10 records")
        assert result.evidence["outcomes"] == {"complete": 1}  # its outcome, kept past the cap


@pytest.mark.parametrize(("low", "high", "expected"), [(1, None, Status.FAIL), (None, 0, Status.PASS)])
def test_reconnect_bounds(low: int | None, high: int | None, expected: Status) -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"min_reconnects": low, "max_reconnects": high})
    assert status("reconnect_bounds", history) == expected


def test_checks_not_applicable_for_an_opaque_target() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(
        history.plan, profile={"payload": "opaque", "trace_header": None, "heartbeat": "none"}, timing={"cap": None}
    )
    results = {r.name: r.status for r in judge_all(history)}
    for name in ("no_loss", "trace_propagation", "heartbeat_timing", "duration_cap", "reconnect_bounds"):
        assert results[name] == Status.NOT_APPLICABLE, name


def browser_stream(reconnect: bool = True) -> HistoryBuilder:
    """A browser client's stream, cut after seq 3 and resumed when `reconnect`."""
    builder = HistoryBuilder()
    builder.connect(0.0)
    for seq in range(len(builder.chunks)):
        if reconnect and seq == 4:
            builder.connect(0.45)
        builder.chunk(0.05 + seq * 0.1, seq)
    builder.complete(0.9)
    return builder.baseline()


def test_page_display_passes_a_page_that_showed_the_answer_once_and_recovered() -> None:
    builder = browser_stream()
    builder.display(1.0, states=["connecting", "connected", "reconnecting", "connected", "disconnected"])
    result = judge("page_display", builder.history)
    assert result.status == Status.PASS, result.detail


@pytest.mark.parametrize(
    ("shown", "problem"),
    [
        (
            {"answer": " word0 word1 word2 word3 word0 word1 word2 word3 word4 word5 word6 word7"},
            "characters of answer",
        ),
        ({"trace_id": "b" * 32}, "trace id"),
        ({"states": ["connecting", "connected", "reconnecting", "disconnected"]}, "back to connected"),
    ],
)
def test_page_display_fails_a_page_that_doubled_the_answer_lost_the_trace_or_stuck(
    shown: dict[str, Any], problem: str
) -> None:
    builder = browser_stream()
    builder.display(1.0, **({"states": ["connecting", "connected", "reconnecting", "connected"]} | shown))
    result = judge("page_display", builder.history)
    assert result.status == Status.FAIL
    assert problem in result.detail


def test_page_display_is_not_applicable_without_a_browser_client() -> None:
    assert status("page_display", browser_stream().history) == Status.NOT_APPLICABLE


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


def test_every_metric_compare_follows_is_in_its_check_s_evidence() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"max_reconnects": 0})
    results = {result.name: result for result in judge_all(history)}
    followed = [(check.name, metric.key) for check in CHECKS.values() for metric in check.metrics]
    assert followed
    for name, key in followed:
        assert key in results[name].evidence, (name, key)


# --- the holes a skeptical user found, each closed: the broken history fails -------------------


def truncated_answer() -> HistoryBuilder:
    """Five of eight chunks, then a self-consistent complete (duration_cap, 5 chunks, their checksum) at 0.8 s."""
    builder = HistoryBuilder().baseline()
    builder.connect(0.0)
    for seq in range(5):
        builder.chunk(0.1 + seq * 0.12, seq)
    builder.heartbeat(0.251)
    builder.heartbeat(0.501)
    builder.heartbeat(0.751)
    builder.complete(0.8, reason="duration_cap", content="".join(builder.chunks[:5]), total=5)
    builder.history.records.sort(key=lambda r: r.t_ns)
    return builder.change(expect={"reason": "finished"})


def test_a_truncated_answer_calling_itself_capped_fails_completion_and_the_cap() -> None:
    history = truncated_answer().history
    completion, cap = judge("completion", history), judge("duration_cap", history)
    assert completion.status == Status.FAIL
    assert "ended with reason 'duration_cap', expected 'finished'" in completion.detail
    assert cap.status == Status.FAIL
    assert "ended with duration_cap after 0.80 s, before the cap of 6 s" in cap.detail


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


def test_the_contract_s_caching_and_buffering_headers_are_required_with_their_values() -> None:
    builder = HistoryBuilder()
    headers = {k: v for k, v in HEADERS.items() if k != "x-accel-buffering"} | {"cache-control": "public, max-age=3600"}
    builder.connect(0.0, headers)
    result = judge("headers", builder.history)
    assert result.status == Status.FAIL
    assert "missing x-accel-buffering" in result.detail
    assert "cache-control is 'public, max-age=3600', expected 'no-cache'" in result.detail


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
    assert "the body's start and its first heartbeat 0.099 s apart" in result.detail


def test_nothing_to_judge_is_not_applicable_never_a_pass() -> None:
    history = HistoryBuilder().change(expect={"max_reconnects": 0}).history
    results = {result.name: result.status for result in judge_all(history)}
    for name in ("headers", "heartbeat_timing", "duration_cap", "no_duplicates", "no_loss", "trace_propagation"):
        assert results[name] == Status.NOT_APPLICABLE, name
    assert results["reconnect_bounds"] == Status.NOT_APPLICABLE
    assert results["completion"] == Status.FAIL  # nothing ran: the promise to complete is broken


def test_a_client_that_received_nothing_is_not_counted_as_verified() -> None:
    builder = HistoryBuilder().good_stream()
    builder.add(0.0, Kind.ATTEMPT, client="c1", connection=0)
    builder.add(0.1, Kind.OUTCOME, client="c1", connection=0, outcome="http_error", detail="HTTP 500")
    result = judge("no_loss", builder.history)
    assert result.evidence["clients_verified"] == 1


def test_a_reconnection_without_the_trace_header_fails() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.5, {k: v for k, v in HEADERS.items() if k != "x-trace-id"})
    builder.chunk(0.6, 1)
    result = judge("trace_propagation", builder.history)
    assert result.status == Status.FAIL
    assert "c0#1: no x-trace-id header" in result.detail


def test_a_dropped_duplicate_under_another_trace_fails() -> None:
    builder = HistoryBuilder().good_stream()
    builder.chunk(0.95, 3, trace="d" * 32, dropped=True)
    assert judge("trace_propagation", builder.history).status == Status.FAIL


# --- one negative test per mutation that survived before ----------------------------------------


def test_an_event_id_sent_twice_fails_without_a_content_seq() -> None:
    builder = HistoryBuilder().good_stream()
    builder.complete(1.05)  # the terminal event (no seq) sent again under its id
    result = judge("no_duplicates", builder.history)
    assert result.status == Status.FAIL
    assert "1 event ids sent twice" in result.detail


def test_a_content_seq_repeated_under_a_new_id_fails() -> None:
    builder = HistoryBuilder().good_stream()
    builder.add(
        0.97, Kind.EVENT, connection=0, event="content_chunk", event_id="other:3", has_id=True,
        data=json.dumps({"seq": 3, "content": " word3", "trace_id": "a" * 32}),
    )  # fmt: skip
    result = judge("no_duplicates", builder.history)
    assert result.status == Status.FAIL
    assert "content seq 3 sent twice" in result.detail


def test_a_finished_answer_that_is_only_a_prefix_of_the_baseline_fails() -> None:
    builder = HistoryBuilder(chunks=4).baseline(" word0 word1 word2 word3 word4")
    builder.good_stream()
    result = judge("no_loss", builder.history)
    assert result.status == Status.FAIL
    assert "differs from the fault-free baseline" in result.detail


def test_a_wrong_total_chunks_fails_even_with_the_right_checksum() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.chunk(0.2, 1)
    builder.complete(0.3, total=3)
    result = judge("no_loss", builder.history)
    assert result.status == Status.FAIL
    assert "got 2 chunks, the server says 3" in result.detail


def test_max_reconnects_is_enforced() -> None:
    builder = HistoryBuilder(chunks=2).change(expect={"max_reconnects": 0})
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.3)
    builder.chunk(0.4, 1)
    result = judge("reconnect_bounds", builder.history)
    assert result.status == Status.FAIL
    assert "c0: 1 reconnections, expected <= 0" in result.detail


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


def test_a_page_that_showed_what_it_received_but_not_the_baseline_fails() -> None:
    builder = browser_stream()
    builder.history.baseline = builder.history.baseline.model_copy(update={"content": " other answer"})
    builder.display(1.0, states=["connecting", "connected", "reconnecting", "connected", "disconnected"])
    result = judge("page_display", builder.history)
    assert result.status == Status.FAIL
    assert "differs from the fault-free baseline" in result.detail
