"""The duration cap, on hand-built histories: a stream ends with `duration_cap` exactly when it
reached the cap, within the tolerance and the delay a fault adds, and no later under another name.

Times at each bound's edge are binary fractions (6.5078125...): exact as floats, so a bound is
met exactly, not within rounding.
"""

from __future__ import annotations

import json

import pytest

from harness.checks import Status
from harness.history import HARNESS, History, harness_loop
from tests.helpers.histories import HistoryBuilder, found, judge, status

CAPPED = "duration_cap"


def stream_ending(end: float, reason: str | None, into: HistoryBuilder | None = None) -> HistoryBuilder:
    """A stream answered at 0 s (into another builder's history), whose terminal event at `end`
    gives `reason` (none when None). The cap is 6 s, its tolerance 0.5 s."""
    builder = into or HistoryBuilder(chunks=1)
    builder.connect(0.0, responds_after=0.0)
    builder.chunk(0.125, 0)
    builder.complete(end, reason=reason)
    return builder


def failure(history: History) -> str | None:
    """The duration cap's detail when it fails, None when it passes."""
    result = judge("duration_cap", history)
    assert result.status in (Status.PASS, Status.FAIL), result.detail
    return result.detail if result.status == Status.FAIL else None


def test_duration_cap_fails_when_stream_outlives_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.complete(7.0)
    assert status("duration_cap", builder.history) == Status.FAIL


@pytest.mark.parametrize(
    ("reason", "latency_ms", "end", "problem"),
    [
        (CAPPED, 0, 6.5, None),  # the cap and its tolerance
        (CAPPED, 0, 6.5078125, "c0: stream lasted 6.51 s, cap 6 s"),
        (CAPPED, 250, 6.75, None),  # and the delay a fault added
        (CAPPED, 250, 6.7578125, "c0: stream lasted 6.76 s, cap 6 s"),
        (CAPPED, 0, 5.5, None),  # capped within the tolerance before the cap
        (CAPPED, 0, 5.4921875, "c0: ended with duration_cap after 5.49 s, before the cap of 6 s"),
        ("finished", 0, 6.0, None),  # finished by the cap
        ("finished", 0, 6.0078125, "c0: ran 6.01 s, past the cap of 6 s, and ended with 'finished'"),
        ("finished", 250, 6.25, None),  # or as late as a fault delayed the end
        ("finished", 250, 6.2578125, "c0: ran 6.26 s, past the cap of 6 s, and ended with 'finished'"),
        (None, 0, 6.25, "c0: ran 6.25 s, past the cap of 6 s, and ended with 'no reason'"),
    ],
)
def test_a_stream_ends_within_its_bounds_inclusive(
    reason: str | None, latency_ms: int, end: float, problem: str | None
) -> None:
    builder = stream_ending(end, reason)
    if latency_ms:
        builder.fault(1.0, 2.0, "latency", latency=latency_ms)
    assert failure(builder.ordered()) == problem
    assert found("duration_cap", builder.history)[2]["tolerance_s"] == 0.5 + latency_ms / 1000


def test_a_stream_past_the_cap_under_another_name_fails_the_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(6.3)  # within the 0.5 s tolerance, but past the cap and called finished
    assert found("duration_cap", builder.history)[1] == "c0: ran 6.30 s, past the cap of 6 s, and ended with 'finished'"


def test_a_stream_capped_at_the_cap_passes_the_cap() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(6.05, reason=CAPPED)
    assert status("duration_cap", builder.history) == Status.PASS


@pytest.mark.parametrize(("sampler", "expected"), [(HARNESS, Status.PASS), ("c0", Status.PASS), ("c1", Status.FAIL)])
def test_a_terminal_event_stamped_while_its_loop_lagged_may_be_late_by_that_lag(sampler: str, expected: Status) -> None:
    builder = stream_ending(6.25, "finished")
    builder.loop_lag(6.25, 250_000, sampler)  # the harness's loop, this client's page, another's
    assert status("duration_cap", builder.ordered()) == expected


@pytest.mark.parametrize(
    ("lagged", "expected"), [("worker1", Status.PASS), ("worker0", Status.FAIL), ("", Status.FAIL)]
)
def test_a_terminal_event_stamped_in_a_worker_may_be_late_only_by_that_worker_s_lag(
    lagged: str, expected: Status
) -> None:
    builder = stream_ending(6.25, "finished")
    builder.history.loops["c0"] = harness_loop("worker1")
    builder.loop_lag(6.25, 250_000, loop=lagged)
    assert status("duration_cap", builder.ordered()) == expected


@pytest.mark.parametrize(
    ("action", "start", "end", "attributes", "expected"),
    [
        ("down", 3.0, 4.0, {}, Status.PASS),  # cut on the way: when the terminal event came says nothing
        ("down", 6.5, 7.0, {}, Status.PASS),  # a fault touching the stream's end
        ("down", -1.0, 0.0, {}, Status.PASS),  # or its start
        ("latency", 3.0, 4.0, {"latency": 125}, Status.FAIL),  # delayed, by no more than the latency
    ],
)
def test_past_the_cap_under_another_name_is_judged_only_on_a_link_that_delivered_on_time(
    action: str, start: float, end: float, attributes: dict[str, int], expected: Status
) -> None:
    builder = stream_ending(6.5, "finished")
    builder.fault(start, end, action, **attributes)
    assert status("duration_cap", builder.ordered()) == expected


@pytest.mark.parametrize("payload", ["protocol", "opaque"])
def test_a_stream_that_ended_without_a_reason_to_read_is_judged_by_its_length_only(payload: str) -> None:
    """A client that gave up, or a payload whose terminal event gives no reason the check reads."""
    builder = HistoryBuilder(chunks=1).change(profile={"payload": payload})
    builder.connect(0.0, responds_after=0.0)
    builder.chunk(0.125, 0)
    if payload == "protocol":
        builder.give_up(6.25)
    else:
        builder.complete(6.25)
    assert found("duration_cap", builder.history)[:2] == (
        Status.PASS,
        "longest stream 6.25 s within cap 6 s (+0.5 s tolerance)",
    )


@pytest.mark.parametrize(
    ("first_answered", "end", "problem"),
    [
        (0.5, 6.75, None),  # 6.25 s from its response
        (None, 7.0, "c0: stream lasted 7.00 s, cap 6 s"),  # the first attempt got none: from the attempt
    ],
)
def test_the_cap_counts_from_the_first_response_or_the_first_attempt_left_unanswered(
    first_answered: float | None, end: float, problem: str | None
) -> None:
    builder = HistoryBuilder(chunks=1)
    if first_answered is None:
        builder.refused(0.0)
        builder.connect(1.0)
    else:
        builder.connect(0.0, responds_after=first_answered)
    builder.chunk(1.5, 0)
    builder.complete(end, reason=CAPPED)
    assert failure(builder.history) == problem


def test_the_cap_counts_from_the_first_connection() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(5.0)
    builder.chunk(5.1, 1)
    builder.complete(6.8, reason=CAPPED)
    assert found("duration_cap", builder.history)[1] == "c0: stream lasted 6.80 s, cap 6 s"


def test_every_stream_past_the_cap_is_named() -> None:
    builder = stream_ending(7.0, CAPPED)
    stream_ending(7.0, CAPPED, into=builder.another("c1"))
    assert found("duration_cap", builder.history) == (
        Status.FAIL,
        "c0: stream lasted 7.00 s, cap 6 s; c1: stream lasted 7.00 s, cap 6 s",
        {"cap_s": 6.0, "tolerance_s": 0.5, "streams": 2, "capped": 2, "longest_s": 7.0, "problems": 2},
    )


def test_the_evidence_gives_the_tolerance_with_a_fault_s_delay_and_the_longest_stream_to_the_millisecond() -> None:
    builder = stream_ending(6.0001234, CAPPED).change(expect={"cap_tolerance": 0.0625})
    builder.fault(1.0, 2.0, "latency", latency=125)
    assert found("duration_cap", builder.ordered()) == (
        Status.PASS,
        "longest stream 6.0 s within cap 6 s (+0.188 s tolerance)",
        {"cap_s": 6.0, "tolerance_s": 0.188, "streams": 1, "capped": 1, "longest_s": 6.0},
    )


@pytest.mark.parametrize(
    ("reason", "said", "expected"),
    [("finished", 6.001, Status.FAIL), ("finished", 6.0, Status.FAIL), ("finished", 5.999, Status.PASS),
     ("duration_cap", 6.001, Status.PASS)],
)  # fmt: skip
def test_a_stream_the_server_says_ran_to_the_cap_must_call_it_duration_cap(
    reason: str, said: float, expected: Status
) -> None:
    """Cut at the cap to the millisecond, the client cannot time it; the server's own duration says it."""
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(5.9, reason=reason)
    terminal = builder.history.records[-2]
    terminal.data = json.dumps(json.loads(terminal.data) | {"duration": said})
    result = judge("duration_cap", builder.history)
    assert result.status == expected, result.detail
    if expected == Status.FAIL:
        assert (
            f"the server says it ran {said:g} s, at or past the cap of 6 s, and ended with 'finished'" in result.detail
        )
