"""Timing histograms: exact where HdrHistogram is exact, encoded and decoded unchanged, refused when
not sse-chaos's, and added across runs so that halves of a history sum to the whole."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.checks import run_checks
from harness.errors import ConfigurationError
from harness.figures import latency_figures
from harness.histograms import HIGHEST_US, Histogram, decode, decoded, encoded, merged
from harness.history import HARNESS, History
from harness.report import write_report
from harness.results import ScenarioRun
from tests.helpers.histories import HistoryBuilder


def test_durations_under_2_048_ms_are_kept_to_the_microsecond() -> None:
    histogram = Histogram.of("x", [0.000001, 0.001234, 0.002047])
    assert [histogram.percentile(p) for p in (1, 50, 100)] == [0.000001, 0.001234, 0.002047]
    assert histogram.count == 3


@pytest.mark.parametrize(
    ("seconds", "read"),
    [
        (0.010, 0.010007),  # a bucket of 8 µs: 10.000 to 10.007 ms, read as its top
        (0.010007, 0.010007),
        (0.2, 0.200063),  # 128 µs: at most 0.1% high
        (0.0, 0.0),
        (-0.0004, 0.0),  # two clocks' stamps a hair apart: no negative durations
    ],
)
def test_a_percentile_is_the_top_of_its_bucket(seconds: float, read: float) -> None:
    histogram = Histogram.of("x", [seconds])
    assert (histogram.count, histogram.percentile(99), histogram.largest()) == (1, read, read)


def test_a_duration_past_an_hour_counts_as_an_hour() -> None:
    histogram = Histogram.of("x", [7200.0])
    assert histogram.count == 1
    assert histogram.percentile(100) == pytest.approx(HIGHEST_US / 1e6, rel=1e-3)


def test_p50_and_p99_are_samples_at_their_rank_never_between_two() -> None:
    """numpy would interpolate (p99 of 1..100 µs: 99.01); HdrHistogram reads the sample at the rank."""
    histogram = Histogram.of("x", [n / 1e6 for n in range(1, 101)])
    assert (histogram.percentile(50), histogram.percentile(99)) == (0.00005, 0.000099)


def test_an_encoding_decodes_to_an_equal_histogram() -> None:
    histogram = Histogram.of("heartbeat_error", [0.001, 0.0032, 0.25, 3.0])
    again = decode("heartbeat_error", histogram.encode())
    assert again == histogram
    assert [again.percentile(p) for p in (50, 99)] == [histogram.percentile(p) for p in (50, 99)]
    assert decoded(encoded({"heartbeat_error": histogram})) == {"heartbeat_error": histogram}


def test_histograms_differing_in_one_count_or_in_name_are_not_equal() -> None:
    histogram = Histogram.of("x", [0.001, 0.002])
    assert histogram != Histogram.of("x", [0.001, 0.002, 0.002])
    assert histogram != Histogram.of("y", [0.001, 0.002])
    assert histogram != "x"


def test_histograms_of_different_names_do_not_add() -> None:
    with pytest.raises(ValueError, match="cannot add histogram 'y' to 'x'"):
        Histogram("x").add(Histogram("y"))


def _hdr_encoding(lowest: int, highest: int, digits: int) -> str:
    other = HdrHistogram(lowest, highest, digits)
    other.record_value(5)
    return str(other.encode().decode("ascii"))


def _compressed(payload: bytes) -> str:
    """An HdrHistogram external header (cookie, length) around a zlib payload, base64."""
    body = zlib.compress(payload)
    return base64.b64encode(bytes.fromhex("1c849314") + len(body).to_bytes(4, "big") + body).decode()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (42, "not an encoding of at most"),
        ("A" * 900_000, "not an encoding of at most"),
        ("not base64!", "not base64"),
        ("", "too short to be an HdrHistogram encoding"),
        (
            base64.b64encode(b"12345678not zlib").decode(),
            "not an HdrHistogram encoding (its payload is not compressed)",
        ),
        (_compressed(b"\0" * 20), "too short to be an HdrHistogram encoding"),
        (_compressed(b"\0" * 10_000_000), "its payload inflates past"),
        (_hdr_encoding(1, 1000, 3), "its range or precision is not sse-chaos's"),
        (_hdr_encoding(1, HIGHEST_US, 2), "its range or precision is not sse-chaos's"),
        (_hdr_encoding(1000, HIGHEST_US, 3), "its range or precision is not sse-chaos's"),
    ],
)
def test_decode_refuses_what_is_not_an_sse_chaos_histogram_in_one_line(text: object, problem: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        decode("silence", text)
    message = str(refused.value)
    assert message.startswith("histogram 'silence': ")
    assert problem in message
    assert "\n" not in message


def test_decode_refuses_a_payload_with_a_wrong_cookie() -> None:
    good = base64.b64decode(Histogram.of("x", [0.001]).encode())
    payload = bytearray(zlib.decompress(good[8:]))
    payload[0] ^= 0xFF
    with pytest.raises(ConfigurationError, match=r"^histogram 'x': not an HdrHistogram encoding \(HdrCookie"):
        decode("x", _compressed(bytes(payload)))


@pytest.mark.parametrize(
    ("saved", "problem"),
    [
        (["x"], "histograms: not a mapping of at most 32 names to encodings"),
        ({f"h{n}": "" for n in range(33)}, "histograms: not a mapping of at most 32 names to encodings"),
        ({"Bad Name\x1b[31m": ""}, r"histograms: 'Bad Name\x1b[31m' is not a histogram name"),
        ({"x" * 65: ""}, f"histograms: '{'x' * 64}…' is not a histogram name"),
        ({3: ""}, "histograms: 'int' is not a histogram name"),
    ],
)
def test_decoded_refuses_a_mapping_sse_chaos_did_not_write(saved: object, problem: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        decoded(saved)
    assert str(refused.value).startswith(problem)


def _two_clients() -> History:
    """Two clients, each with late and early heartbeats, content and a silence, and harness lag samples."""
    first = HistoryBuilder(chunks=3)
    second = first.another("c1")
    for builder, start, beats in ((first, 0.0, (0.251, 0.499, 0.77)), (second, 0.1, (0.35, 0.602, 0.85))):
        builder.connect(start, responds_after=0.0)
        builder.heartbeats(*(start + beat for beat in beats))
        for seq, t in enumerate((0.3, 0.31, 0.9)):
            builder.chunk(start + t, seq)
        builder.complete(start + 1.0)
    for n in range(6):
        first.loop_lag(0.15 * n, 1000 + 700 * n)
    return first.ordered()


def _part(history: History, clients: set[str], lag_samples: slice) -> ScenarioRun:
    """What a shard or worker running `clients` (and taking those of the harness's lag samples) records."""
    lags = [record for record in history.records if record.client == HARNESS][lag_samples]
    records = [record for record in history.records if record.client in clients or record in lags]
    part = History(plan=history.plan, epoch_ns=history.epoch_ns, records=records)
    return _judged(part)


def _judged(history: History) -> ScenarioRun:
    assert history.plan is not None
    run = ScenarioRun("two", "", history, run_checks(history.plan, history))
    run.figures = latency_figures(history.plan, history)
    return run


def test_the_histograms_of_two_halves_of_a_history_add_up_to_the_whole_s() -> None:
    whole = _two_clients()
    halves = [_part(whole, {"c0"}, slice(0, 3)), _part(whole, {"c1"}, slice(3, None))]
    expected = _judged(whole).histograms
    assert sorted(expected) == [
        "content_gap",
        "first_content",
        "harness_loop_lag",
        "heartbeat_error",
        "silence",
        "whole_answer",
    ]
    assert all(halves[0].histograms[name] != expected[name] for name in expected)  # each half holds a part
    added = merged(half.histograms for half in halves)
    assert added == expected
    for name, histogram in expected.items():
        assert added[name].count == histogram.count
        assert [added[name].percentile(p) for p in (50, 99)] == [histogram.percentile(p) for p in (50, 99)]


def test_merging_leaves_the_runs_histograms_as_they_were() -> None:
    one, other = Histogram.of("x", [0.001]), Histogram.of("x", [0.002])
    assert merged([{"x": one}, {"x": other}])["x"].count == 2
    assert (one.count, other.count) == (1, 1)


def test_the_summary_keeps_each_scenario_s_histograms_encoded_and_the_report_shows_their_percentiles(
    tmp_path: Path,
) -> None:
    """The heartbeat errors of `_two_clients` are 2, 21, 2 and 2 ms; 21 ms is read as its bucket's top."""
    run = _judged(_two_clients())
    write_report(tmp_path, [run])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert decoded(summary["scenarios"][0]["histograms"]) == run.histograms
    page = (tmp_path / "report.html").read_text()
    assert "<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>" in page
    row = "<tr><td>heartbeat_error</td><td>4</td><td>2.000</td>" + "<td>21.007</td>" * 4 + "</tr>"
    assert row in page
