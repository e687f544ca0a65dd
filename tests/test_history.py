"""The history's JSON form: a round trip loses nothing, and what is not a history is one clear error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.errors import ConfigurationError
from harness.history import FORMAT, History, Kind
from tests.helpers.histories import HistoryBuilder


def saved(history: History) -> dict[str, Any]:
    return json.loads(json.dumps(history.to_json()))


def test_a_history_round_trips_through_json_and_frame() -> None:
    builder = HistoryBuilder().good_stream().baseline()
    builder.fault(0.2, 0.4, "latency", latency=100, jitter=20)
    builder.add(0.3, Kind.LOOP_LAG, client="harness", lag_us=1200)
    history = builder.history
    history.screenshots.append("screenshots/built/b0000.png")
    restored = History.from_json(saved(history))
    assert restored.records == history.records
    assert (restored.plan, restored.baseline, restored.screenshots) == (
        history.plan,
        history.baseline,
        history.screenshots,
    )
    assert restored.epoch_ns == history.epoch_ns
    frame = restored.to_frame()
    assert list(frame.columns[:3]) == ["t_ns", "t", "client"]
    assert len(frame) == len(history.records)
    assert frame["lag_us"].max() == 1200


def test_a_run_that_ended_before_it_was_planned_saves_without_a_plan() -> None:
    restored = History.from_json(saved(History()))
    assert restored.plan is None
    assert restored.records == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": FORMAT + 1}, f"a history of format {FORMAT + 1}"),
        ({"format": "two"}, "a history of format 'two'"),
        ({"plan": {"scenario": "x"}}, "not a history sse-chaos wrote"),
        ({"columns": ["t_ns"]}, "not a history sse-chaos wrote"),
        ({"records": "none"}, "not a history sse-chaos wrote"),
    ],
)
def test_what_is_not_a_history_of_this_format_is_one_clear_error(change: dict[str, Any], message: str) -> None:
    payload = saved(HistoryBuilder().good_stream().history) | change
    with pytest.raises(ConfigurationError, match=message) as raised:
        History.from_json(payload)
    assert "\n" not in str(raised.value)
