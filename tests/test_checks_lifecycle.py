"""Completion and reconnection bounds."""

from __future__ import annotations

import pytest

from harness.checks import Status
from harness.history import COLUMNS, History, Kind
from tests.helpers.histories import HistoryBuilder, changed, found, judge

# --- completion ---------------------------------------------------------------------------------


def test_completion_fails_when_a_cap_was_expected_but_the_stream_finished() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"reason": "duration_cap"})
    assert found("completion", history) == (
        Status.FAIL,
        "c0: ended with reason 'finished', expected 'duration_cap'",
        {"outcomes": {"complete": 1}, "problems": 1},
    )


def test_completion_fails_on_deadline() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.add(5.0, Kind.OUTCOME, outcome="deadline", detail="no terminal event within 5 s")
    assert found("completion", builder.history) == (
        Status.FAIL,
        "c0: deadline (no terminal event within 5 s)",
        {"outcomes": {"deadline": 1}, "problems": 1},
    )


def test_a_client_missing_its_outcome_is_unfinished() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    assert found("completion", builder.history) == (
        Status.FAIL,
        "c0: unfinished ()",
        {"outcomes": {"unfinished": 1}, "problems": 1},
    )


def test_a_client_that_did_not_complete_is_not_also_blamed_for_its_reason() -> None:
    builder = HistoryBuilder().change(expect={"reason": "finished"})
    builder.connect(0.0)
    builder.give_up(5.0, "the stream went silent")
    assert found("completion", builder.history)[1] == "c0: gave_up (the stream went silent)"


def test_a_wrong_reason_is_quoted_to_its_first_40_characters() -> None:
    builder = HistoryBuilder(chunks=1).change(expect={"reason": "finished"})
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(0.2, reason="shutting down for maintenance, back soon, sorry")
    expected = f"c0: ended with reason {'shutting down for maintenance, back soon'!r}, expected 'finished'"
    assert found("completion", builder.history)[1] == expected


@pytest.mark.parametrize(
    ("reason", "payload", "detail"),
    [
        ("finished", "protocol", "all 2 clients ended with complete (finished)"),
        (None, "protocol", "all 2 clients ended with complete"),
        ("finished", "opaque", "all 2 clients ended with complete"),  # no reason to read in its payload
    ],
)
def test_completion_says_what_every_client_ended_with(reason: str | None, payload: str, detail: str) -> None:
    builder = HistoryBuilder().good_stream().change(expect={"reason": reason}, profile={"payload": payload})
    builder.another("c1").good_stream()
    assert found("completion", builder.history) == (Status.PASS, detail, {"outcomes": {"complete": 2}})


def test_completion_of_one_client_is_said_in_the_singular() -> None:
    builder = HistoryBuilder().good_stream().change(expect={"reason": "finished"})
    assert found("completion", builder.history)[1] == "1 client ended with complete (finished)"


def truncated_answer() -> HistoryBuilder:
    """Five of eight chunks, then a self-consistent complete (duration_cap, 5 chunks, their checksum) at 0.8 s."""
    builder = HistoryBuilder().baseline()
    builder.connect(0.0)
    for seq in range(5):
        builder.chunk(0.1 + seq * 0.12, seq)
    builder.heartbeats(0.251, 0.501, 0.751)
    builder.complete(0.8, reason="duration_cap", content="".join(builder.chunks[:5]), total=5)
    builder.ordered()
    return builder.change(expect={"reason": "finished"})


def test_a_truncated_answer_calling_itself_capped_fails_completion_and_the_cap() -> None:
    history = truncated_answer().history
    completion, cap = judge("completion", history), judge("duration_cap", history)
    assert completion.status == Status.FAIL
    assert "ended with reason 'duration_cap', expected 'finished'" in completion.detail
    assert cap.status == Status.FAIL
    assert "ended with duration_cap after 0.80 s, before the cap of 6 s" in cap.detail


# --- reconnection bounds ------------------------------------------------------------------------


def reconnecting(*reconnections: int, low: int | None, high: int | None) -> HistoryBuilder:
    """One client per number, each reconnecting that many times, under the bounds `low..high`."""
    builder = HistoryBuilder().change(expect={"min_reconnects": low, "max_reconnects": high})
    for n, count in enumerate(reconnections):
        client = builder.another(f"c{n}")
        for attempt in range(count + 1):
            client.connect(attempt * 0.5)
    return builder


@pytest.mark.parametrize(
    ("count", "low", "high", "status", "detail"),
    [
        (1, 1, 2, Status.PASS, "reconnections 1..2 for every client"),
        (2, 1, 2, Status.PASS, "reconnections 1..2 for every client"),
        (0, 1, 2, Status.FAIL, "c0: 0 reconnections, expected 1..2"),
        (3, 1, 2, Status.FAIL, "c0: 3 reconnections, expected 1..2"),
        (1, 1, None, Status.PASS, "reconnections >= 1 for every client"),
        (0, 1, None, Status.FAIL, "c0: 0 reconnections, expected >= 1"),
        (0, None, 0, Status.PASS, "reconnections <= 0 for every client"),
        (1, None, 0, Status.FAIL, "c0: 1 reconnection, expected <= 0"),
    ],
)
def test_reconnections_are_held_to_their_bounds_inclusive(
    count: int, low: int | None, high: int | None, status: Status, detail: str
) -> None:
    result = found("reconnect_bounds", reconnecting(count, low=low, high=high).history)
    assert result[:2] == (status, detail)


def test_reconnect_bounds_give_the_fewest_and_most_reconnections_of_any_client() -> None:
    history = reconnecting(2, 0, 3, low=0, high=3).history
    assert found("reconnect_bounds", history) == (
        Status.PASS,
        "reconnections 0..3 for every client",
        {"min": 0, "max": 3},
    )


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
