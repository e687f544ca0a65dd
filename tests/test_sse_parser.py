"""The sans-IO parser against the WHATWG interpretation rules, at every chunk boundary."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

import harness.sse
from harness.sse import Comment, Event, PythonSSEParser, SSEParseError
from harness.sse._items import BOM, MAX_RETRY_MS, retry_ms
from tests.helpers.sse_implementations import (
    IMPLEMENTATIONS,
    CompiledSSEParser,
    parse_outcome,
    random_case,
    skip_unless_built,
)
from tests.helpers.sse_vectors import VECTORS, ev, summary

Parser = type[PythonSSEParser]


@pytest.fixture(params=IMPLEMENTATIONS)
def parser_type(request: pytest.FixtureRequest) -> Parser:
    """Every test here runs on the Python parser and on its compiled twin."""
    return request.param


def parse_whole(parser_type: Parser, data: bytes, **kwargs: object) -> list[Event | Comment]:
    parser = parser_type(**kwargs)  # type: ignore[arg-type]
    return parser.feed(data) + parser.close()


def parse_split(parser_type: Parser, data: bytes, at: int) -> list[Event | Comment]:
    parser = parser_type()
    return parser.feed(data[:at]) + parser.feed(data[at:]) + parser.close()


def parse_bytewise(parser_type: Parser, data: bytes) -> list[Event | Comment]:
    parser = parser_type()
    items: list[Event | Comment] = []
    for index in range(len(data)):
        items += parser.feed(data[index : index + 1])
    return items + parser.close()


@pytest.mark.parametrize("name", VECTORS)
def test_vector_fed_whole(parser_type: Parser, name: str) -> None:
    data, expected = VECTORS[name]
    assert summary(parse_whole(parser_type, data)) == expected


@pytest.mark.parametrize("name", VECTORS)
def test_vector_split_at_every_boundary(parser_type: Parser, name: str) -> None:
    data, _expected = VECTORS[name]
    whole = parse_whole(parser_type, data)
    for at in range(len(data) + 1):
        assert parse_split(parser_type, data, at) == whole, f"split at byte {at}"
    assert parse_bytewise(parser_type, data) == whole


def test_offsets_are_exact_byte_positions(parser_type: Parser) -> None:
    data = "\ufeffdata: é\r\n\r\n: c\rdata: b\n\n".encode()
    items = parse_whole(parser_type, data)
    assert [item.offset for item in items] == [14, 19, 28]
    assert data[:15].endswith(b"\r\n\r\n")


def test_cr_at_chunk_end_and_lf_at_next_start_is_one_line_end(parser_type: Parser) -> None:
    parser = parser_type()
    assert parser.feed(b"data: a\r") == []
    items = parser.feed(b"\n\r\n")
    assert summary(items) == [ev("a")]


def test_empty_feed_keeps_pending_cr(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(b"data: a\r")
    parser.feed(b"")
    assert summary(parser.feed(b"\ndata: b\n\n")) == [ev("a\nb")]


def test_retry_and_last_event_id_state(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(b"retry: 250\n\nid: s:1\ndata: x\n\nid: s:2\ndata: y")
    assert parser.retry == 250
    assert parser.last_event_id == "s:1"
    assert parser.incomplete
    parser.close()
    assert parser.last_event_id == "s:1"


def test_a_new_parser_has_no_state_and_nothing_pending(parser_type: Parser) -> None:
    parser = parser_type()
    state = (parser.last_event_id, parser.retry, parser.bytes_fed, parser.incomplete, parser.unterminated_bytes)
    assert state == ("", None, 0, False, 0)


def test_close_discards_the_unfinished_line_and_block(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(b"data: a\ndata: b")
    assert parser.close() == []
    assert (parser.incomplete, parser.unterminated_bytes) == (False, 0)


def test_bytes_fed_counts_every_byte_the_bom_and_a_split_crlf_included(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(BOM + b"data: a\r")
    parser.feed(b"\n\n")
    assert parser.bytes_fed == 13


def test_a_bom_fed_alone_leaves_nothing_pending(parser_type: Parser) -> None:
    parser = parser_type()
    assert parser.feed(BOM) == []
    assert (parser.incomplete, parser.unterminated_bytes) == (False, 0)
    assert summary(parser.feed(b"data: a\n\n")) == [ev("a")]


def test_a_retry_of_more_digits_than_an_int_may_parse_is_clamped(parser_type: Parser) -> None:
    data = b"retry: " + b"9" * 5000 + b"\ndata: a\n\n"
    assert summary(parse_whole(parser_type, data)) == [ev("a", retry=MAX_RETRY_MS)]


@pytest.mark.parametrize(
    ("digits", "ms"), [(b"000250", 250), ("000250", 250), (b"000", 0), ("000", 0), (b"9" * 5000, MAX_RETRY_MS)]
)
def test_retry_ms_reads_ascii_digits_as_bytes_or_text(digits: bytes | str, ms: int) -> None:
    """The compiled parser passes the digits as bytes, the Python parser as text."""
    assert retry_ms(digits) == ms


def test_seeded_last_event_id_survives_events_without_id(parser_type: Parser) -> None:
    parser = parser_type(last_event_id="s:9")
    items = parser.feed(b"event: heartbeat\ndata: {}\n\n")
    assert items[0].id == "s:9"
    assert not items[0].has_id
    assert parser.last_event_id == "s:9"


def test_oversized_line_raises(parser_type: Parser) -> None:
    parser = parser_type(max_line_bytes=16)
    with pytest.raises(SSEParseError, match="longer than 16 bytes"):
        parser.feed(b"data: " + b"x" * 20)


def test_oversized_line_in_one_chunk_raises(parser_type: Parser) -> None:
    with pytest.raises(SSEParseError):
        parse_whole(parser_type, b"data: " + b"x" * 20 + b"\n\n", max_line_bytes=16)


def test_oversized_event_raises(parser_type: Parser) -> None:
    parser = parser_type(max_event_bytes=32)
    with pytest.raises(SSEParseError, match="event is larger than 32 bytes"):
        parser.feed(b"data: 0123456789\n" * 4)


def test_an_event_of_exactly_max_event_bytes_is_allowed_open_or_dispatched(parser_type: Parser) -> None:
    data = b"data: 0123\n\n"  # 12 bytes: from its first field line's first byte to its blank line's end
    assert summary(parse_whole(parser_type, data, max_event_bytes=12)) == [ev("0123")]
    parser = parser_type(max_event_bytes=11)
    assert parser.feed(data[:11]) == []  # open at the chunk's end, 11 bytes so far
    with pytest.raises(SSEParseError, match="larger than 11 bytes"):
        parser.feed(data[11:])


def test_multibyte_split_inside_character(parser_type: Parser) -> None:
    data = "data: 🚀\n\n".encode()
    rocket_start = data.index("🚀".encode())
    for at in range(rocket_start, rocket_start + 4):
        assert summary(parse_split(parser_type, data, at)) == [ev("🚀")]


AGREEING_INPUTS = [
    b"data: hello\n\n",
    b"event: a\ndata: 1\ndata: 2\n\n",
    b"id: 5\nevent: x\ndata: y\n\ndata: z\n\n",
    b"data: a\r\n\r\ndata: b\r\n\r\n",
    "data: café\n\n".encode(),
    b"retry: 100\ndata: r\n\n",
]


@pytest.mark.parametrize("data", AGREEING_INPUTS)
def test_agrees_with_httpx_sse_where_it_is_right(parser_type: Parser, data: bytes) -> None:
    httpx_sse = pytest.importorskip("httpx_sse")
    decoder = httpx_sse._decoders.SSEDecoder()
    oracle = []
    for line in data.decode().splitlines():
        sse = decoder.decode(line)
        if sse is not None:
            oracle.append((sse.event, sse.data, sse.id, sse.retry))
    ours = [(e.event, e.data, e.id, e.retry) for e in parse_whole(parser_type, data) if isinstance(e, Event)]
    assert ours == oracle


def test_event_bound_counts_wire_bytes_of_the_open_block_only(parser_type: Parser) -> None:
    parser = parser_type(max_event_bytes=32)
    for _ in range(20):
        assert parser.feed(b": comment lines between events are not part of any event\n") != []
    items = parser.feed(b"data: 0123456789\n") + parser.feed(b"data: 0123\n\n")
    assert summary(items) == [ev("0123456789\n0123")]


def test_id_of_open_block_is_not_last_event_id_until_dispatch(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(b"id: 1\ndata: a\n\nid: 2\n")
    assert parser.feed(b"data: b\n") == []
    assert parser.last_event_id == "1"
    assert summary(parser.feed(b"\n")) == [ev("b", id="2", has_id=True)]
    assert parser.last_event_id == "2"


def test_unfinished_input_is_reported_until_its_line_and_block_end(parser_type: Parser) -> None:
    parser = parser_type()
    parser.feed(b"data: a\n\ndata: b")
    assert (parser.incomplete, parser.unterminated_bytes) == (True, 7)
    parser.feed(b"\n")
    assert (parser.incomplete, parser.unterminated_bytes) == (True, 0)  # the line ended, the block did not
    parser.feed(b"\n")
    assert (parser.incomplete, parser.unterminated_bytes) == (False, 0)


def test_the_outcome_does_not_depend_on_where_the_stream_is_cut(parser_type: Parser) -> None:
    """Items, state and whether a size bound broke are the same fed whole or in pieces (a
    bound breaks in the piece that crosses it, so the items before it are a prefix)."""
    rng = random.Random(5)
    bounds_hit = 0
    for _ in range(3000):
        data, cuts, bounds = random_case(rng)
        whole, pieces = parse_outcome(parser_type, data, [], bounds), parse_outcome(parser_type, data, cuts, bounds)
        case = (data, cuts, bounds)
        if "error" in whole:
            bounds_hit += 1
            unbounded = parse_outcome(parser_type, data, [], {})["items"]
            assert "error" in pieces, case
            assert pieces["items"] == unbounded[: len(pieces["items"])], case
        else:
            assert pieces == whole, case
    assert bounds_hit > 300


@skip_unless_built
def test_the_compiled_parser_behaves_exactly_as_the_python_parser() -> None:
    rng = random.Random(11)
    short = [random_case(rng) for _ in range(5000)]
    long = [random_case(rng, pieces=20_000, cuts=50) for _ in range(20)]  # many lines per chunk
    for case in short + long:
        assert parse_outcome(CompiledSSEParser, *case) == parse_outcome(PythonSSEParser, *case), case


@skip_unless_built
def test_the_compiled_parser_is_built_from_the_current_source() -> None:
    built = Path(sys.modules[CompiledSSEParser.__module__].__file__ or "")
    source = built.parent / "_speedups.pyx"
    if not source.exists():
        pytest.skip("installed without its source")
    assert built.stat().st_mtime >= source.stat().st_mtime, f"{source} changed after it was built: pip install -e ."


def test_the_package_picks_the_compiled_parser_when_it_is_built() -> None:
    assert harness.sse.SSEParser is (CompiledSSEParser or PythonSSEParser)
    assert harness.sse.COMPILED is (CompiledSSEParser is not None)
