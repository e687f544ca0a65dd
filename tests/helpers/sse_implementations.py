"""The parser implementations under test, and random streams that reach every rule and bound."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.sse import Comment, Event, PythonSSEParser, SSEParseError

try:
    from harness.sse._speedups import SSEParser as CompiledSSEParser
except ImportError:
    CompiledSSEParser = None  # type: ignore[misc,assignment]

NOT_BUILT = "the compiled parser is not built (no C compiler when the project was installed)"
skip_unless_built = pytest.mark.skipif(CompiledSSEParser is None, reason=NOT_BUILT)
IMPLEMENTATIONS = [
    pytest.param(PythonSSEParser, id="python"),
    pytest.param(CompiledSSEParser, id="compiled", marks=skip_unless_built),
]

PIECES = [b"data:", b"data: ", b"id: ", b"event:", b"retry: ", b":", b" ", b"\r", b"\n", b"\r\n", b"x", b"7"]
PIECES += [b"\x00", b"\xff", "é東".encode(), b"\xef\xbb\xbf", "🚀".encode()[:2], b"\n\n", b"\r\n\r\n"]


def random_case(rng: random.Random, pieces: int = 40, cuts: int = 5) -> tuple[bytes, list[int], dict[str, int]]:
    """A stream of up to `pieces` rule fragments, up to `cuts` places to cut it, and size bounds
    small enough to be hit."""
    data = b"".join(rng.choices(PIECES, k=rng.randint(1, pieces)))
    where = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(0, cuts)))) if len(data) > 1 else []
    bounds = {
        "max_line_bytes": rng.choice([4, 8, 64, 1 << 20]),
        "max_event_bytes": rng.choice([rng.randint(8, 48), 128, 4 << 20]),
    }
    return data, where, bounds


def parse_outcome(parser_type: type[PythonSSEParser], data: bytes, cuts: list[int], bounds: dict[str, int]) -> dict:
    """Everything a parser shows for `data` fed in pieces cut at `cuts`: its items, its state
    before `close()`, or its error and the feed that raised it."""
    parser = parser_type(**bounds)  # type: ignore[arg-type]
    items: list[Event | Comment] = []
    for index, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(data)], strict=True)):
        try:
            items += parser.feed(data[start:end])
        except SSEParseError as error:
            return {"items": items, "error": str(error), "feed": index}
    state: dict[str, Any] = {
        "last_event_id": parser.last_event_id,
        "retry": parser.retry,
        "bytes_fed": parser.bytes_fed,
        "incomplete": parser.incomplete,
        "unterminated_bytes": parser.unterminated_bytes,
    }
    items += parser.close()
    return {"items": items, **state}
