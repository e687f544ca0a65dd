"""A scenario's verdict when the target did not give its fault-free answer whole."""

from __future__ import annotations

from harness.history import Baseline
from harness.runner import _baseline_error
from tests.helpers.histories import HistoryBuilder, judge_all

_MISSING = Baseline(failure="deadline, 'no terminal event within 16 s'")


def test_a_missing_baseline_is_a_scenario_error_naming_why() -> None:
    history = HistoryBuilder().good_stream().history
    history.baseline = _MISSING
    assert _baseline_error(history, judge_all(history)) == (
        "the target did not give its fault-free answer (the baseline) whole: deadline, 'no terminal event within 16 s'"
    )


def test_a_failure_proven_without_the_baseline_stays_a_failure() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.give_up(1.0)  # completion fails, whatever the baseline
    builder.history.baseline = _MISSING
    assert _baseline_error(builder.history, judge_all(builder.history)) is None


def test_a_whole_baseline_is_no_error() -> None:
    history = HistoryBuilder().baseline().good_stream().history
    assert _baseline_error(history, judge_all(history)) is None
