"""The checks together (their registry and what every one promises), the header check and the page display check."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import CHECKS, Status
from tests.helpers.histories import HEADERS, HistoryBuilder, changed, judge, judge_all, status


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


def test_every_metric_compare_follows_is_in_its_check_s_evidence() -> None:
    history = HistoryBuilder().good_stream().history
    history.plan = changed(history.plan, expect={"max_reconnects": 0})
    results = {result.name: result for result in judge_all(history)}
    followed = [(check.name, metric.key) for check in CHECKS.values() for metric in check.metrics]
    assert followed
    for name, key in followed:
        assert key in results[name].evidence, (name, key)


def test_the_contract_s_caching_and_buffering_headers_are_required_with_their_values() -> None:
    builder = HistoryBuilder()
    headers = {k: v for k, v in HEADERS.items() if k != "x-accel-buffering"} | {"cache-control": "public, max-age=3600"}
    builder.connect(0.0, headers)
    result = judge("headers", builder.history)
    assert result.status == Status.FAIL
    assert "missing x-accel-buffering" in result.detail
    assert "cache-control is 'public, max-age=3600', expected 'no-cache'" in result.detail


def test_nothing_to_judge_is_not_applicable_never_a_pass() -> None:
    history = HistoryBuilder().change(expect={"max_reconnects": 0}).history
    results = {result.name: result.status for result in judge_all(history)}
    for name in ("headers", "heartbeat_timing", "duration_cap", "no_duplicates", "no_loss", "trace_propagation"):
        assert results[name] == Status.NOT_APPLICABLE, name
    assert results["reconnect_bounds"] == Status.NOT_APPLICABLE
    assert results["completion"] == Status.FAIL  # nothing ran: the promise to complete is broken


def test_a_page_that_showed_what_it_received_but_not_the_baseline_fails() -> None:
    builder = browser_stream()
    builder.history.baseline = builder.history.baseline.model_copy(update={"content": " other answer"})
    builder.display(1.0, states=["connecting", "connected", "reconnecting", "connected", "disconnected"])
    result = judge("page_display", builder.history)
    assert result.status == Status.FAIL
    assert "differs from the fault-free baseline" in result.detail
