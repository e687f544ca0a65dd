"""The latency figures: pure functions of (plan, history), each measured where there is something
to measure and absent (saying why) where there is not; `compare` follows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.compare import Thresholds, compare
from harness.figures import latency_figures
from harness.history import Baseline, History, Kind
from harness.report import write_report
from harness.results import ScenarioRun, summary_of, verdict_lines
from tests.helpers.histories import HistoryBuilder
from tests.test_checks_dialects import FEED, restarted, with_profile


def figures_of(history: History) -> dict[str, float]:
    assert history.plan is not None
    return latency_figures(history.plan, history).values


def test_first_content_gaps_and_whole_answer_are_measured_from_the_first_request() -> None:
    """First content after 100.031 ms, gaps of 100.031, 200.063 and 400.127 ms, the whole answer after
    1000.447 ms: each the top of its histogram bucket, so read exactly (figures in tenths of a ms)."""
    builder = HistoryBuilder(chunks=4)
    builder.connect(1.0)
    for seq, t in enumerate((1.100031, 1.200062, 1.400125, 1.800252)):
        builder.chunk(t, seq)
    builder.complete(2.000447)
    builder.history.baseline = Baseline(content=" word0 word1 word2 word3", first_content_s=0.05, whole_s=0.5)
    found = figures_of(builder.ordered())
    assert found["first_content_p50_ms"] == 100.0
    assert found["gap_p50_ms"] == 200.1  # the middle of three gaps
    assert found["gap_p99_ms"] == 400.1  # the largest: HdrHistogram reads the sample at the rank, never between
    assert found["whole_answer_p50_ms"] == 1000.4
    assert found["baseline_whole_answer_ms"] == 500.0
    assert found["extra_ms"] == 500.4


def test_a_server_that_restarts_costs_the_broken_attempts_time() -> None:
    builder = restarted(["a", "b"], ["a", "b", "c"])  # the first attempt at 0, cut; the second at 0.12
    builder.history.baseline = Baseline(content="abc", first_content_s=0.01, whole_s=0.04)
    found = figures_of(builder.ordered())
    assert found["first_content_p50_ms"] == pytest.approx(10.0)
    # 160 ms lies in a histogram bucket 128 µs wide, read as its top: 160.127 ms
    assert found["whole_answer_p50_ms"] == 160.1
    assert found["extra_ms"] == 120.1
    assert found["gap_p99_ms"] > 100  # the gap across the restart is what the user waited


def test_a_figure_with_nothing_to_measure_is_absent_and_says_why() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.give_up(0.5)
    history = builder.ordered()
    assert history.plan is not None
    figures = latency_figures(history.plan, history)
    assert "first_content_p50_ms" in figures.values
    assert figures.absent == {
        "gap_p50_ms": "no client received two content chunks",
        "gap_p99_ms": "no client received two content chunks",
        "whole_answer_p50_ms": "no client received the whole answer",
        "extra_ms": "no client received the whole answer",
        "baseline_first_content_ms": "no fault-free baseline was timed",
        "baseline_whole_answer_ms": "no fault-free baseline was timed",
    }
    assert "gap between content chunks p99 ms: absent (no client received two content chunks)" in figures.lines()


def test_an_endless_feed_has_no_whole_answer() -> None:
    builder = with_profile(HistoryBuilder(), FEED)
    builder.connect(0.0)
    for number in range(3):
        builder.event(0.1 * (number + 1), "message", "{}", event_id=str(number))
    builder.add(0.5, Kind.OUTCOME, connection=builder.connection, outcome="complete")
    history = builder.ordered()
    assert history.plan is not None
    figures = latency_figures(history.plan, history)
    assert figures.values["gap_p50_ms"] == pytest.approx(100.0)
    assert figures.absent["whole_answer_p50_ms"] == "an endless feed has no whole answer"


def test_the_baseline_s_failure_is_why_its_figures_are_absent() -> None:
    history = HistoryBuilder().good_stream().history
    history.baseline = Baseline(failure="gave_up, 'the body ended'")
    assert history.plan is not None
    figures = latency_figures(history.plan, history)
    assert figures.absent["extra_ms"] == "gave_up, 'the body ended'"


def summary_with(first_content: float, gap_p99: float) -> dict[str, object]:
    history = HistoryBuilder().good_stream().history
    run = ScenarioRun("s", "", history)
    run.figures.values |= {"first_content_p50_ms": first_content, "gap_p99_ms": gap_p99, "extra_ms": 0.0}
    return summary_of([run])


@pytest.mark.parametrize(
    ("first_content", "gap_p99", "regressions"),
    [
        (50.0, 40.0, []),
        (151.0, 40.0, ["time to first content p50 ms"]),
        (50.0, 141.0, ["gap between content chunks p99 ms"]),
        (149.0, 139.0, []),
    ],
)
def test_compare_calls_a_rise_in_first_content_or_p99_gap_beyond_the_threshold_a_regression(
    first_content: float, gap_p99: float, regressions: list[str]
) -> None:
    changes = compare(summary_with(50.0, 40.0), summary_with(first_content, gap_p99), Thresholds(latency_ms=100.0))
    assert [change.item for change in changes if change.regression] == regressions
    assert {"time to first content p50 ms", "extra time faults cost ms"} <= {change.item for change in changes}


def test_a_baseline_fetched_without_an_answer_says_it_is_fetched_where_answers_are_compared() -> None:
    history = HistoryBuilder().good_stream().history
    history.baseline = Baseline()
    assert history.plan is not None
    figures = latency_figures(history.plan, history)
    assert figures.absent["extra_ms"].endswith("it is fetched where answers are compared (deterministic, answer text)")


def test_the_figures_are_in_the_summary_and_the_report(tmp_path: Path) -> None:
    history = HistoryBuilder().good_stream().history
    assert history.plan is not None
    run = ScenarioRun("s", "", history, figures=latency_figures(history.plan, history))
    write_report(tmp_path, [run])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenarios"][0]["figures"] == run.figures.to_json()
    page = (tmp_path / "report.html").read_text()
    assert f"time to first content p50 ms: {run.figures.values['first_content_p50_ms']:g}" in page
    assert "baseline&#39;s time to the whole answer ms: absent (no fault-free baseline was timed)" in page


def test_the_verbose_lines_end_with_the_figures() -> None:
    history = HistoryBuilder().good_stream().history
    assert history.plan is not None
    run = ScenarioRun("s", "", history, figures=latency_figures(history.plan, history))
    lines = verdict_lines(run, evidence=True)
    assert lines[-len(run.figures.lines()) :] == [f"figure: {line}" for line in run.figures.lines()]
    assert not any(line.startswith("figure:") for line in verdict_lines(run))
