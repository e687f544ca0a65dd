"""Completion and reconnection bounds."""

from __future__ import annotations

import pytest

from harness.checks import Status
from harness.history import Kind
from tests.helpers.histories import HistoryBuilder, changed, judge, status


def test_completion_fails_when_a_cap_was_expected_but_the_stream_finished() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"reason": "duration_cap"})
    result = judge("completion", history)
    assert result.status == Status.FAIL
    assert "c0: ended with reason 'finished', expected 'duration_cap'" in result.detail


def test_completion_fails_on_deadline() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.add(5.0, Kind.OUTCOME, outcome="deadline", detail="no terminal event within 5 s")
    result = judge("completion", builder.history)
    assert result.status == Status.FAIL
    assert result.evidence["outcomes"] == {"deadline": 1}


@pytest.mark.parametrize(("low", "high", "expected"), [(1, None, Status.FAIL), (None, 0, Status.PASS)])
def test_reconnect_bounds(low: int | None, high: int | None, expected: Status) -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"min_reconnects": low, "max_reconnects": high})
    assert status("reconnect_bounds", history) == expected


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


def test_max_reconnects_is_enforced() -> None:
    builder = HistoryBuilder(chunks=2).change(expect={"max_reconnects": 0})
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.3)
    builder.chunk(0.4, 1)
    result = judge("reconnect_bounds", builder.history)
    assert result.status == Status.FAIL
    assert "c0: 1 reconnections, expected <= 0" in result.detail
