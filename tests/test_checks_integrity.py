"""No duplicates, no loss, one trace id: the answer arrives once, whole, under one trace id."""

from __future__ import annotations

import json

from harness.checks import Status
from harness.history import Kind
from tests.helpers.histories import HEADERS, HistoryBuilder, judge, status


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
