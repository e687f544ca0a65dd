"""What both parsers emit and raise: the item types, the size-bound error and the defaults."""

from __future__ import annotations

from typing import NamedTuple

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 1 << 20
DEFAULT_MAX_EVENT_BYTES = 4 << 20
# Larger `retry:` values (285,000 years) are taken as this one: the largest integer every
# client holds exactly (JavaScript's Number.MAX_SAFE_INTEGER), so the page's parser agrees; and
# a hostile value of a million digits costs no huge integer parse.
MAX_RETRY_MS = (1 << 53) - 1


class Event(NamedTuple):
    """A dispatched event.

    `id` is the spec's lastEventId (it persists across events); `has_id` says whether this
    block carried an `id` field itself. `retry` is the reconnection time set in this block.
    `offset` is the stream byte offset just past the CR or LF that ended the blank line
    which dispatched the event (the LF of a CRLF pair is not counted, so the offset does not
    depend on where the chunks were split).
    """

    event: str
    data: str
    id: str
    retry: int | None
    has_id: bool
    offset: int


class Comment(NamedTuple):
    """A comment line (`: text`), with one leading space removed like a field value."""

    text: str
    offset: int


class SSEParseError(ValueError):
    """The stream broke a configured size bound; the parser cannot continue."""


def retry_ms(digits: bytes | str) -> int:
    """A `retry:` value of ASCII digits (already checked), at most `MAX_RETRY_MS`."""
    significant = digits.lstrip(b"0" if isinstance(digits, bytes) else "0")
    return MAX_RETRY_MS if len(significant) > 16 else min(int(significant or b"0"), MAX_RETRY_MS)
