"""The checks together (their registry, verdicts and the views of a history they share), the
header check and the page display check."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.checks import CHECKS, CheckResult, Status
from harness.checks.results import Verdict, verdict
from harness.checks.views import FaultWindow, client_views, fault_windows
from harness.faults import Slack
from harness.history import HARNESS, NEMESIS, Baseline, Kind
from tests.helpers.histories import (
    HEADERS,
    STREAM,
    TRACE,
    HistoryBuilder,
    changed,
    found,
    headers_without,
    judge,
    judge_all,
)

NA = Status.NOT_APPLICABLE


def test_a_good_history_passes_every_check() -> None:
    builder = HistoryBuilder().good_stream()
    builder.display(1.1)
    history = builder.history
    history.plan = changed(history.plan, expect={"max_reconnects": 0})
    results = {r.name: r.status for r in judge_all(history)}
    assert results == dict.fromkeys(CHECKS, Status.PASS)


def test_nothing_to_judge_is_not_applicable_never_a_pass() -> None:
    history = HistoryBuilder().change(expect={"max_reconnects": 0}).history
    assert {r.name: (r.status, r.detail) for r in judge_all(history)} == {
        "headers": (NA, "no 200 response to inspect"),
        "heartbeat_timing": (NA, "no heartbeat interval lay on a healthy link"),
        "duration_cap": (NA, "no client made a connection"),
        "no_duplicates": (NA, "no event id or content seq arrived to compare"),
        "no_loss": (NA, "no client received content or a terminal event"),
        "trace_propagation": (NA, "no client got a 200 response"),
        "completion": (Status.FAIL, "no client ran"),  # nothing ran: the promise to complete is broken
        "reconnect_bounds": (NA, "no client ran"),
        "page_display": (NA, "no browser client ran"),
    }


def test_checks_an_opaque_target_cannot_support_are_not_applicable_and_say_why() -> None:
    builder = HistoryBuilder().good_stream()
    builder.display(1.1)
    history = builder.history
    history.plan = changed(
        history.plan, profile={"payload": "opaque", "trace_header": None, "heartbeat": "none"}, timing={"cap": None}
    )
    assert {r.name: r.detail for r in judge_all(history) if r.status == NA} == {
        "heartbeat_timing": "the target has no heartbeat or does not say its interval",
        "duration_cap": "the target does not advertise or declare a duration cap",
        "no_loss": "the target's payload is opaque: no answer to re-assemble, no seq or checksum to verify",
        "trace_propagation": "the target carries no trace id",
        "reconnect_bounds": "the scenario sets no reconnection bounds",
        "page_display": "the target's payload has no answer text to compare",
    }


def test_every_metric_compare_follows_is_in_its_check_s_evidence() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"max_reconnects": 0})
    results = {result.name: result for result in judge_all(history)}
    followed = [(check.name, metric.key) for check in CHECKS.values() for metric in check.metrics]
    assert followed
    for name, key in followed:
        assert key in results[name].evidence, (name, key)


# --- verdicts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("problems", "detail"),
    [(["a", "b", "c"], "a; b; c"), (["a", "b", "c", "d"], "a; b; c (+1 more)")],
)
def test_a_failure_names_its_first_three_problems_and_counts_the_rest(problems: list[str], detail: str) -> None:
    assert verdict(problems, "fine", seen=4) == Verdict(Status.FAIL, detail, {"seen": 4, "problems": len(problems)})


def test_a_pass_gives_its_own_detail_and_the_evidence() -> None:
    assert verdict([], "fine", seen=4) == Verdict(Status.PASS, "fine", {"seen": 4})


def test_a_result_s_json_names_the_check_its_status_detail_and_evidence() -> None:
    result = CheckResult("headers", Status.FAIL, "c0#0: missing x-trace-id", {"responses": 1, "problems": 1})
    assert result.to_json() == {
        "name": "headers",
        "status": "fail",
        "detail": "c0#0: missing x-trace-id",
        "evidence": {"responses": 1, "problems": 1},
    }


# --- the views of a history ---------------------------------------------------------------------


def test_loop_lag_samples_and_the_nemesis_s_records_belong_to_no_client() -> None:
    builder = HistoryBuilder().good_stream()
    builder.another("c1").good_stream()
    builder.fault(0.5, 0.75, "down")
    builder.add(0.6, Kind.LOOP_LAG, client=HARNESS, lag_us=1000)
    assert [view.name for view in client_views(builder.ordered())] == ["c0", "c1"]


def test_a_connection_ends_at_its_first_error_and_the_client_s_outcome_does_not_move_it() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.add(0.25, Kind.STATE, connection=0, detail="open")
    builder.add(0.5, Kind.ERROR, connection=0, detail="connection reset")
    builder.add(0.75, Kind.ERROR, connection=0, detail="closed after the reset")
    builder.give_up(1.0)
    [view] = client_views(builder.history)
    assert (view.connections[0].ended, view.ended) == (0.5, 1.0)


def test_a_connection_without_an_error_ends_with_its_client_and_a_page_s_own_note_does_not_end_it() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.add(0.5, Kind.ERROR, detail="the page noted a problem")  # a browser page's note: no connection
    builder.give_up(1.0)
    [view] = client_views(builder.history)
    assert view.connections[0].ended == 1.0


def test_a_fault_s_window_runs_from_its_start_to_its_end_or_to_the_end_of_the_history() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.fault(0.25, 0.5, "down", fault_id="f0")
    builder.fault(0.75, None, "latency", fault_id="f1", latency=100, jitter=20)
    builder.add(1.0, Kind.ERROR, client=NEMESIS, event_id="f1", detail="could not undo f1")  # so it stayed
    builder.complete(1.25)
    builder.add(1.5, Kind.LOOP_LAG, client=HARNESS, lag_us=100)  # the history's last record
    assert fault_windows(builder.history) == [
        FaultWindow(0.25, 0.5, "down", Slack()),
        FaultWindow(0.75, 1.5, "latency", Slack(heartbeat_s=0.04, delay_s=0.12)),
    ]


# --- headers ------------------------------------------------------------------------------------


def test_headers_name_each_missing_or_malformed_header_of_each_response() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, headers_without("x-stream-id") | {"x-heartbeat-interval": "soon"})
    detail = "c0#0: missing x-stream-id; c0#0: x-heartbeat-interval is not a positive number: 'soon'"
    assert found("headers", builder.history) == (Status.FAIL, detail, {"responses": 1, "problems": 2})


def test_headers_fail_on_wrong_content_type() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, HEADERS | {"content-type": "text/plain"})
    assert found("headers", builder.history) == (
        Status.FAIL,
        "c0#0: content-type is 'text/plain'",
        {"responses": 1, "problems": 1},
    )


def test_the_contract_s_caching_and_buffering_headers_are_required_with_their_values() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, headers_without("x-accel-buffering") | {"cache-control": "public, max-age=3600"})
    detail = "c0#0: cache-control is 'public, max-age=3600', expected 'no-cache'; c0#0: missing x-accel-buffering"
    assert found("headers", builder.history) == (Status.FAIL, detail, {"responses": 1, "problems": 2})


def test_only_200_responses_are_inspected_each_named_by_its_connection() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, status=503)
    builder.connect(0.25, headers_without("x-stream-id"))
    builder.connect(0.5)
    assert found("headers", builder.history) == (
        Status.FAIL,
        "c0#1: missing x-stream-id",
        {"responses": 2, "problems": 1},
    )


def _resume_failure(builder: HistoryBuilder, headers: dict[str, str], code: str = "unknown_stream") -> None:
    builder.connect(0.0, headers)
    error = {"stream_id": None, "trace_id": TRACE, "code": code, "message": "m", "retryable": False}
    builder.event(0.01, "error", json.dumps(error))


@pytest.mark.parametrize("code", ["unknown_stream", "bad_last_event_id"])
def test_a_resume_failure_is_the_one_response_without_x_stream_id(code: str) -> None:
    builder = HistoryBuilder()
    _resume_failure(builder, headers_without("x-stream-id"), code)
    assert found("headers", builder.history)[0] == Status.PASS


def test_a_resume_failure_with_x_stream_id_or_without_another_header_fails() -> None:
    builder = HistoryBuilder()
    _resume_failure(builder, headers_without("x-trace-id"))
    detail = "c0#0: missing x-trace-id; c0#0: x-stream-id on a resume failure, which has no stream"
    assert found("headers", builder.history)[:2] == (Status.FAIL, detail)


@pytest.mark.parametrize("code", ["slow_consumer", "unknown_stream"])
def test_an_error_for_a_stream_still_needs_x_stream_id(code: str) -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, headers_without("x-stream-id"))
    error = {"stream_id": STREAM, "trace_id": TRACE, "code": code, "message": "m", "retryable": False}
    builder.event(0.01, "error", json.dumps(error))
    assert found("headers", builder.history)[:2] == (Status.FAIL, "c0#0: missing x-stream-id")


def test_headers_pass_says_how_many_responses_carried_them() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.connect(0.5)
    assert found("headers", builder.history) == (
        Status.PASS,
        "2 responses carried every required header",
        {"responses": 2},
    )
    single = HistoryBuilder()
    single.connect(0.0)
    assert found("headers", single.history)[1] == "1 response carried every required header"


def test_a_response_recorded_without_headers_lacks_every_one() -> None:
    builder = HistoryBuilder()
    builder.add(0.0, Kind.ATTEMPT, connection=0)
    builder.add(0.001, Kind.RESPONSE, connection=0, status=200)  # a saved history may hold no header detail
    detail = "c0#0: content-type is ''; c0#0: missing cache-control; c0#0: missing x-accel-buffering (+5 more)"
    assert found("headers", builder.history) == (Status.FAIL, detail, {"responses": 1, "problems": 8})


def test_a_timing_header_of_zero_is_not_a_positive_number() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, HEADERS | {"x-stream-max-seconds": "0"})
    assert found("headers", builder.history)[1] == "c0#0: x-stream-max-seconds is not a positive number: '0'"


def test_a_bad_header_value_is_quoted_to_its_first_32_characters() -> None:
    builder = HistoryBuilder()
    long_values = {"x-silence-threshold": "soon, " * 8, "cache-control": "private, " * 5}
    builder.connect(0.0, HEADERS | long_values)
    assert found("headers", builder.history)[1] == (
        f"c0#0: cache-control is {'private, private, private, priva'!r}, expected 'no-cache'; "
        f"c0#0: x-silence-threshold is not a positive number: {'soon, soon, soon, soon, soon, so'!r}"
    )


# --- page display -------------------------------------------------------------------------------

RECOVERED = ["connecting", "connected", "reconnecting", "connected", "disconnected"]
DOUBLED = " word0 word1 word2 word3 word0 word1 word2 word3 word4 word5 word6 word7"


def browser_stream(reconnect: bool = True, into: HistoryBuilder | None = None) -> HistoryBuilder:
    """A browser client's stream (into another builder's history), cut after seq 3 and resumed when `reconnect`."""
    builder = into or HistoryBuilder()
    builder.connect(0.0)
    for seq in range(len(builder.chunks)):
        if reconnect and seq == 4:
            builder.connect(0.45)
        builder.chunk(0.05 + seq * 0.1, seq)
    builder.complete(0.9)
    return builder.baseline()


def test_page_display_passes_a_page_that_showed_the_answer_once_and_recovered() -> None:
    builder = browser_stream()
    builder.display(1.0, states=RECOVERED)
    assert found("page_display", builder.history) == (
        Status.PASS,
        "1 page showed the whole answer once",
        {"pages": 1},
    )


STUCK = "the status never went from reconnecting back to connected"


@pytest.mark.parametrize(
    ("shown", "problems"),
    [
        (
            {"answer": DOUBLED},
            [
                "the page shows 72 characters of answer, the stream delivered 48",
                "the answer shown differs from the fault-free baseline",
            ],
        ),
        ({"trace_id": "b" * 100}, [f"the page shows trace id {'b' * 64!r}, not the stream's"]),
        (
            {"states": ["connecting", "connected", "reconnecting", "disconnected"]},
            [f"{STUCK} (shown: ['connecting', 'connected', 'reconnecting', 'disconnected'])"],
        ),
        (
            {"states": ["connected", *["reconnecting"] * 12]},
            [f"{STUCK} (shown: {['connected', *['reconnecting'] * 11]})"],  # the first 12 states
        ),
    ],
)
def test_page_display_fails_a_page_that_doubled_the_answer_lost_the_trace_or_stuck(
    shown: dict[str, Any], problems: list[str]
) -> None:
    builder = browser_stream()
    builder.display(1.0, **({"states": RECOVERED} | shown))
    detail = "; ".join(f"c0: {problem}" for problem in problems)
    assert found("page_display", builder.history) == (Status.FAIL, detail, {"pages": 1, "problems": len(problems)})


def test_a_page_that_reported_no_state_showed_no_trace_id_and_no_recovery() -> None:
    builder = browser_stream()
    builder.add(1.0, Kind.DISPLAY, data="".join(builder.chunks))  # the page's state could not be read
    assert found("page_display", builder.history)[1] == (
        f"c0: the page shows trace id 'None', not the stream's; c0: {STUCK} (shown: [])"
    )


def test_every_page_is_judged() -> None:
    builder = browser_stream(reconnect=False)
    builder.display(1.0, trace_id="b" * 32)
    other = browser_stream(into=builder.another("c1"))
    other.display(1.0, states=RECOVERED)
    assert found("page_display", builder.ordered()) == (
        Status.FAIL,
        f"c0: the page shows trace id {'b' * 32!r}, not the stream's",
        {"pages": 2, "problems": 1},
    )


def test_a_page_that_showed_what_it_received_but_not_the_baseline_fails() -> None:
    builder = browser_stream()
    builder.baseline(" other answer")
    builder.display(1.0, states=RECOVERED)
    assert found("page_display", builder.history)[1] == "c0: the answer shown differs from the fault-free baseline"


def test_a_baseline_the_target_did_not_give_whole_fails_no_loss_even_when_no_client_got_content() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.history.baseline = Baseline(failure="records_capped, 'records capped at 10000'")
    result = judge("no_loss", builder.history)
    assert result.status == Status.FAIL
    assert (
        result.detail
        == "the target did not give the fault-free baseline whole (records_capped, 'records capped at 10000')"
    )


def test_a_baseline_the_target_did_not_give_whole_fails_no_loss_and_the_page_naming_why() -> None:
    builder = browser_stream()
    builder.history.baseline = Baseline(failure="deadline, 'no terminal event within 16 s'")
    builder.display(1.0, states=RECOVERED)
    for check in ("no_loss", "page_display"):
        result = judge(check, builder.history)
        assert result.status == Status.FAIL, check
        assert "did not give the fault-free baseline whole (deadline, 'no terminal event within 16 s')" in result.detail
