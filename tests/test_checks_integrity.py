"""No duplicates, no loss, one trace id: the answer arrives once, whole, under one trace id."""

from __future__ import annotations

import json

import pytest

from harness.checks import Status
from harness.history import Kind
from tests.helpers.histories import HEADERS, STREAM, TRACE, HistoryBuilder, found, headers_without

# --- no duplicates ------------------------------------------------------------------------------


def test_no_duplicates_fails_even_when_the_client_dropped_the_copy() -> None:
    builder = HistoryBuilder().good_stream()
    builder.chunk(0.95, 3, dropped=True)
    detail = f"c0: 1 event id sent twice, first '{STREAM}:3'; c0: content seq 3 sent twice (1 seq repeated)"
    assert found("no_duplicates", builder.history) == (
        Status.FAIL,
        detail,
        {"event_ids": 10, "content_seqs": 9, "problems": 2},
    )


def test_an_event_id_sent_twice_fails_without_a_content_seq() -> None:
    builder = HistoryBuilder().good_stream()
    builder.complete(1.05)  # the terminal event (no seq) sent again under its id
    assert found("no_duplicates", builder.history)[1] == f"c0: 1 event id sent twice, first '{STREAM}:8'"


def test_a_repeated_event_id_is_quoted_to_its_first_80_characters() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    for t in (0.1, 0.2):
        builder.event(t, "notice", "{}", event_id="x" * 100)
    assert found("no_duplicates", builder.history)[1] == f"c0: 1 event id sent twice, first {'x' * 80!r}"


def test_a_content_seq_repeated_under_a_new_id_fails() -> None:
    builder = HistoryBuilder().good_stream()
    builder.event(0.97, "content_chunk", json.dumps({"seq": 3, "content": " word3"}), event_id="other:3")
    assert found("no_duplicates", builder.history)[1] == "c0: content seq 3 sent twice (1 seq repeated)"


def test_no_duplicates_counts_the_ids_and_seqs_of_every_client() -> None:
    builder = HistoryBuilder().good_stream()
    builder.another("c1").good_stream()
    assert found("no_duplicates", builder.history) == (
        Status.PASS,
        "18 event ids and 16 content seqs, none repeated",
        {"event_ids": 18, "content_seqs": 16},
    )


# --- no loss ------------------------------------------------------------------------------------


def without_seq(builder: HistoryBuilder, seq: int) -> HistoryBuilder:
    builder.history.records = [
        r for r in builder.history.records if not (r.kind == "event" and f'"seq": {seq}' in r.data)
    ]
    return builder


def test_no_loss_fails_on_a_gap_in_seq() -> None:
    builder = without_seq(HistoryBuilder().good_stream(), 4)
    assert found("no_loss", builder.history)[1] == "c0: content seq 5 where 4 was due"


def test_an_event_whose_data_is_not_a_json_object_has_no_seq() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.event(0.1, "content_chunk", "[0]")
    assert found("no_loss", builder.history)[1] == "c0: content seq None where 0 was due"


def test_no_loss_fails_when_checksum_disagrees() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    for seq in range(8):
        builder.chunk(0.1 * (seq + 1), seq)
    builder.complete(0.9, content="something else")
    assert found("no_loss", builder.history)[1] == "c0: the re-assembled answer does not match content_sha256"


def test_a_wrong_total_chunks_fails_even_with_the_right_checksum() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.chunk(0.2, 1)
    builder.complete(0.3, total=3)
    assert found("no_loss", builder.history)[1] == "c0: got 2 chunks, the server says 3"


def test_one_chunk_is_said_in_the_singular() -> None:
    builder = HistoryBuilder(chunks=1)
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.complete(0.3, total=2)
    assert found("no_loss", builder.history)[1] == "c0: got 1 chunk, the server says 2"


def test_a_chunk_without_content_adds_nothing_to_the_answer() -> None:
    builder = HistoryBuilder(chunks=2)
    builder.connect(0.0)
    builder.event(0.1, "content_chunk", json.dumps({"seq": 0}))
    builder.chunk(0.2, 1)
    builder.complete(0.3, content=builder.chunks[1])
    assert found("no_loss", builder.history)[0] == Status.PASS


def test_no_loss_fails_when_answer_differs_from_baseline() -> None:
    history = HistoryBuilder().good_stream().baseline(" word0 other").history
    assert found("no_loss", history)[1] == "c0: the answer differs from the fault-free baseline"


def test_a_finished_answer_that_is_only_a_prefix_of_the_baseline_fails() -> None:
    builder = HistoryBuilder(chunks=4).baseline(" word0 word1 word2 word3 word4")
    builder.good_stream()
    assert found("no_loss", builder.history)[1] == "c0: the answer differs from the fault-free baseline"


def cut_answer(capped: bool) -> HistoryBuilder:
    """Five of eight chunks, then the cap's terminal event or nothing (the client gave up)."""
    builder = HistoryBuilder().baseline()
    builder.connect(0.0)
    for seq in range(5):
        builder.chunk(0.1 * (seq + 1), seq)
    if capped:
        builder.complete(0.6, reason="duration_cap", content="".join(builder.chunks[:5]), total=5)
    else:
        builder.give_up(0.6)
    return builder


@pytest.mark.parametrize("capped", [True, False])
def test_an_answer_cut_short_by_the_cap_or_a_fault_passes_when_it_begins_the_baseline(capped: bool) -> None:
    assert found("no_loss", cut_answer(capped).history) == (
        Status.PASS,
        "1 answer re-assembled whole, in order, and equal to the fault-free baseline",
        {"clients_verified": 1, "compared_with_baseline": True},
    )


@pytest.mark.parametrize(
    ("with_baseline", "against"),
    [(True, "and equal to the fault-free baseline"), (False, "(no baseline to compare with)")],
)
def test_no_loss_counts_the_answers_verified_and_says_whether_a_baseline_was_compared(
    with_baseline: bool, against: str
) -> None:
    builder = HistoryBuilder().good_stream()
    builder.another("c1").good_stream()
    if with_baseline:
        builder.baseline()
    assert found("no_loss", builder.history) == (
        Status.PASS,
        f"2 answers re-assembled whole, in order, {against}",
        {"clients_verified": 2, "compared_with_baseline": with_baseline},
    )


def test_a_client_that_received_nothing_is_not_counted_as_verified() -> None:
    builder = HistoryBuilder().good_stream()
    other = builder.another("c1")
    other.connect(0.0, status=500)
    other.add(0.1, Kind.OUTCOME, connection=0, outcome="http_error", detail="HTTP 500")
    assert found("no_loss", builder.history)[2] == {"clients_verified": 1, "compared_with_baseline": False}


def test_no_loss_names_the_losses_of_every_client() -> None:
    builder = without_seq(HistoryBuilder().good_stream(), 4)
    builder.another("c1").good_stream()
    assert found("no_loss", builder.history) == (
        Status.FAIL,
        "c0: content seq 5 where 4 was due",
        {"clients_verified": 1, "compared_with_baseline": False, "problems": 1},
    )


# --- trace propagation --------------------------------------------------------------------------


def test_trace_propagation_fails_when_a_reconnection_changes_trace_id() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.5, HEADERS | {"x-trace-id": "b" * 32})
    builder.chunk(0.6, 1)
    assert found("trace_propagation", builder.history) == (
        Status.FAIL,
        "c0: 2 different trace ids over 2 responses",
        {"clients": 0, "problems": 1},
    )


def test_trace_propagation_fails_when_an_event_carries_another_trace() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0, trace="c" * 32)
    assert found("trace_propagation", builder.history)[1] == "c0: 2 different trace ids over 1 response"


def test_a_dropped_duplicate_under_another_trace_fails() -> None:
    builder = HistoryBuilder().good_stream()
    builder.chunk(0.95, 3, trace="d" * 32, dropped=True)
    assert found("trace_propagation", builder.history)[1] == "c0: 2 different trace ids over 1 response"


def test_a_reconnection_without_the_trace_header_fails() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.connect(0.5, headers_without("x-trace-id"))
    builder.chunk(0.6, 1)
    assert found("trace_propagation", builder.history)[1] == "c0#1: no x-trace-id header"


def test_every_client_s_response_without_the_trace_header_is_named() -> None:
    builder = HistoryBuilder()
    for name in ("c0", "c1"):
        client = builder.another(name)
        client.connect(0.0, headers_without("x-trace-id"))
        client.chunk(0.1, 0)
    detail = "c0#0: no x-trace-id header; c1#0: no x-trace-id header"
    assert found("trace_propagation", builder.history)[1] == detail


def test_a_stream_with_no_trace_id_anywhere_fails() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, headers_without("x-trace-id"))
    assert found("trace_propagation", builder.history)[1] == "c0#0: no x-trace-id header; c0: no trace id at all"


@pytest.mark.parametrize(("event_trace", "status"), [(TRACE, Status.PASS), ("c" * 32, Status.FAIL)])
def test_without_a_trace_header_the_events_trace_ids_are_still_held_to_one(event_trace: str, status: Status) -> None:
    builder = HistoryBuilder().change(profile={"trace_header": None})
    builder.connect(0.0)
    builder.chunk(0.1, 0)
    builder.chunk(0.2, 1, trace=event_trace)
    assert found("trace_propagation", builder.history)[0] == status


def test_trace_propagation_counts_the_clients_that_got_a_200_response() -> None:
    builder = HistoryBuilder()
    builder.connect(0.0, status=503)
    for name in ("c1", "c2"):
        builder.another(name).good_stream()
    assert found("trace_propagation", builder.history) == (
        Status.PASS,
        "2 clients kept one trace id throughout",
        {"clients": 2},
    )
    assert found("trace_propagation", HistoryBuilder().good_stream().history)[1] == (
        "1 client kept one trace id throughout"
    )
