"""The history's JSON form: a round trip loses nothing, and what is not a history is one clear error."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import ConfigurationError
from harness.history import (
    FORMAT,
    HARNESS,
    MAX_RECORDS_PER_CLIENT,
    MAX_RECORDS_PER_HISTORY,
    MAX_TEXT_PER_CLIENT,
    MAX_TEXT_PER_HISTORY,
    NEMESIS,
    History,
    Kind,
    Record,
    harness_loop,
)
from tests.helpers.histories import HistoryBuilder


def saved(history: History) -> dict[str, Any]:
    return json.loads(json.dumps(history.to_json()))


def test_a_history_round_trips_through_json_and_frame() -> None:
    builder = HistoryBuilder().good_stream().baseline()
    builder.fault(0.2, 0.4, "latency", latency=100, jitter=20)
    builder.add(0.3, Kind.LOOP_LAG, client="harness", lag_us=1200)
    history = builder.history
    history.screenshots.append("screenshots/built/b0000.png")
    history.loops["c0"] = harness_loop("worker1")
    restored = History.from_json(saved(history))
    assert restored.records == history.records
    assert (restored.plan, restored.baseline, restored.screenshots, restored.loops) == (
        history.plan,
        history.baseline,
        history.screenshots,
        {"c0": "harness:worker1"},
    )
    assert restored.epoch_ns == history.epoch_ns
    frame = restored.to_frame()
    assert list(frame.columns[:3]) == ["t_ns", "t", "client"]
    assert len(frame) == len(history.records)
    assert frame["lag_us"].max() == 1200


def test_a_history_of_the_second_format_reads_with_every_client_on_the_harness_s_loop() -> None:
    """Before worker processes, the harness's one loop stamped every client's records."""
    history = HistoryBuilder().good_stream().history
    second = saved(history) | {"format": 2}
    del second["loops"]
    restored = History.from_json(second)
    assert restored.records == history.records
    assert restored.loops == {}
    assert restored.loop_of("c0") == HARNESS


def test_a_record_another_process_stamped_is_admitted_within_its_client_s_budget() -> None:
    history = History(max_records=1)
    for t_ns in (5, 6):
        history.admit(Record(t_ns, "c", Kind.EVENT.value, data="x"))
    history.admit(Record(7, HARNESS, Kind.LOOP_LAG.value, event="worker0", lag_us=3))
    assert [(r.t_ns, r.kind) for r in history.records] == [(5, "event"), (6, "truncated"), (7, "loop_lag")]


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
        ({"loops": ["c0"]}, "not a history sse-chaos wrote: loops"),
        ({"loops": {"c0": 1}}, "not a history sse-chaos wrote: loops"),
    ],
)
def test_what_is_not_a_history_of_this_format_is_one_clear_error(change: dict[str, Any], message: str) -> None:
    payload = saved(HistoryBuilder().good_stream().history) | change
    with pytest.raises(ConfigurationError, match=message) as raised:
        History.from_json(payload)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("client", "kind", "message"),
    [
        ("c0000", Kind.CPU_WAIT, "record 9: cpu_wait of c0000: only the harness samples them"),
        ("c0000", Kind.FAULT_START, "record 9: fault_start of c0000: only the nemesis applies faults"),
        (HARNESS, Kind.FAULT_END, "record 9: fault_end of harness: only the nemesis applies faults"),
        (HARNESS, Kind.EVENT, "record 9: event of the harness: a client's record"),
        (NEMESIS, Kind.LOOP_LAG, "record 9: loop_lag of the nemesis: a client's record"),
        ("c0000", "made_up", "record 9: made_up is not a kind of record"),
    ],
)
def test_a_record_its_stamper_cannot_have_made_is_refused(client: str, kind: str, message: str) -> None:
    """A hand-edited history cannot make a client's record excuse another (a CPU wait or a fault
    window of its own making) or pass a client's record off as the harness's."""
    payload = saved(HistoryBuilder().good_stream().history)
    assert len(payload["records"]) > 9
    payload["records"][9][payload["columns"].index("client")] = client
    payload["records"][9][payload["columns"].index("kind")] = str(kind)
    with pytest.raises(ConfigurationError, match=f"not a history sse-chaos wrote: {message}$"):
        History.from_json(payload)


def test_each_stamper_s_own_records_are_read() -> None:
    builder = HistoryBuilder().good_stream()
    builder.loop_lag(0.1, 5)
    builder.loop_lag(0.1, 5, sampler="c0000")  # a browser client's page
    builder.cpu_wait(0.2, 1_000)
    builder.fault(0.3, 0.4, "down")
    builder.add(0.5, Kind.ERROR, client=NEMESIS, event_id="f0", detail="unhealed")
    history = builder.ordered()
    assert History.from_json(saved(history)).records == history.records


def test_a_client_past_its_record_cap_gets_one_marker_and_keeps_only_its_outcome() -> None:
    history = History(max_records=3)
    for n in range(5):
        history.add("c", Kind.EVENT, data=str(n))
    history.add("c", Kind.OUTCOME, outcome="records_capped", detail="capped")
    history.add("d", Kind.EVENT, data="x")  # another client has a share of its own
    assert [(r.client, r.kind, r.data) for r in history.records] == [
        ("c", "event", "0"),
        ("c", "event", "1"),
        ("c", "event", "2"),
        ("c", "truncated", ""),
        ("c", "outcome", ""),
        ("d", "event", "x"),
    ]
    marker = history.truncated("c")
    assert marker is not None
    assert marker.detail.startswith("records capped at 3 (a client keeps at most 3 records")
    assert history.truncated("d") is None


def test_a_client_past_its_text_cap_is_capped_too() -> None:
    history = History(max_text=10)
    history.add("c", Kind.COMMENT, data="12345")
    history.add("c", Kind.EVENT, event_id="12", data="345")
    history.add("c", Kind.ERROR, detail="1")
    assert [r.kind for r in history.records] == ["comment", "event", "truncated"]
    marker = history.truncated("c")
    assert marker is not None
    assert marker.detail.startswith("records capped at 2 (")
    assert "10 characters of text" in marker.detail


@pytest.mark.parametrize(
    ("clients", "records", "text"),
    [
        (1, MAX_RECORDS_PER_CLIENT, MAX_TEXT_PER_CLIENT),
        (600, MAX_RECORDS_PER_HISTORY // 600, MAX_TEXT_PER_HISTORY // 600),
    ],
)
def test_many_clients_share_the_history_s_budget(clients: int, records: int, text: int) -> None:
    history = History()
    history.share_among(clients)
    assert (history.max_records, history.max_text) == (records, text)
    assert records * clients <= MAX_RECORDS_PER_HISTORY
    assert text * clients <= MAX_TEXT_PER_HISTORY


def test_the_harness_s_own_records_are_bounded_by_the_plan_not_the_cap() -> None:
    history = History(max_records=1)
    for _ in range(3):
        history.add(HARNESS, Kind.LOOP_LAG, lag_us=1)
        history.add(NEMESIS, Kind.FAULT_END, event_id="f0")
    assert len(history.records) == 6
    assert history.of_kind(Kind.TRUNCATED) == []


def test_reads_close_together_share_a_record_stamped_with_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0]
    monkeypatch.setattr("harness.history.time", SimpleNamespace(monotonic_ns=lambda: clock[0]))
    history = History(max_records=6)

    def read(at_us: int, connection: int, offset: int, nbytes: int) -> None:
        clock[0] = at_us * 1000
        history.add_read("c", connection, offset, nbytes)

    read(0, 0, 0, 10)
    read(900, 0, 10, 5)  # within a millisecond of the record's first read: joins it
    read(1000, 0, 15, 5)  # a millisecond after it: a record of its own
    history.add("c", Kind.COMMENT, data="")
    read(1100, 0, 20, 1)  # after another record: its own
    read(1200, 1, 0, 1)  # another connection: its own
    read(1300, 1, 7, 1)  # not where the last read ended: its own
    history.add("c", Kind.COMMENT, data="")  # past the cap
    read(1400, 1, 8, 1)  # dropped, not added to the read before the cap
    assert [(r.kind, r.t_ns, r.connection, r.offset, r.nbytes) for r in history.records] == [
        ("bytes", 0, 0, 0, 15),
        ("bytes", 1_000_000, 0, 15, 5),
        ("comment", 1_000_000, -1, -1, 0),
        ("bytes", 1_100_000, 0, 20, 1),
        ("bytes", 1_200_000, 1, 0, 1),
        ("bytes", 1_300_000, 1, 7, 1),
        ("truncated", 1_300_000, -1, -1, 0),
    ]
