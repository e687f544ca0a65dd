"""A sans-IO Server-Sent Events parser, exact to the WHATWG "event stream interpretation".

Bytes in, items out; no I/O and no clock::

    parser = SSEParser()
    for item in parser.feed(chunk):      # any chunk boundaries, even one byte at a time
        if isinstance(item, Event): ...
        else: ...                        # Comment: servers often use them as heartbeats
    parser.close()                       # end of body: an unterminated block is discarded

Lines are split on bytes (CR, LF and CRLF; a CR ending one chunk and an LF starting the next
are one line end), then decoded as UTF-8 with replacement. Because CR and LF never occur
inside a UTF-8 sequence this equals decoding the stream first, and it keeps every item's
exact byte offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Comment", "Event", "SSEParseError", "SSEParser"]

_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")
DEFAULT_MAX_LINE_BYTES = 1 << 20
DEFAULT_MAX_EVENT_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Event:
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


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (`: text`), with one leading space removed like a field value."""

    text: str
    offset: int


class SSEParseError(ValueError):
    """The stream broke a configured size bound; the parser cannot continue."""


class SSEParser:
    def __init__(
        self,
        last_event_id: str = "",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        """`last_event_id` seeds a reconnection's parser, as browsers do, so that an event
        without an `id` field on the new connection keeps the id the client resumes from."""
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self.bytes_fed = 0
        self._pending = b""
        self._offset = 0  # stream offset of the first byte of `_pending`
        self._skip_lf = False
        self._at_start = True
        self._data: list[str] = []
        self._data_bytes = 0
        self._event_type = ""
        self._id_buffer = last_event_id
        self._block_has_id = False
        self._block_retry: int | None = None
        self._block_open = False

    @property
    def incomplete(self) -> bool:
        """True when bytes of an unfinished line or block are waiting for more input."""
        return bool(self._pending) or self._block_open

    def feed(self, data: bytes) -> list[Event | Comment]:
        self.bytes_fed += len(data)
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                self._offset += 1
        buffer = self._pending + data if self._pending else data
        if self._at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._pending = buffer
                return []
            self._at_start = False
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM) :]
                self._offset += len(_BOM)
        items: list[Event | Comment] = []
        if b"\r" in buffer:
            self._split_any(buffer, items)
        else:
            self._split_lf(buffer, items)
        if len(self._pending) > self.max_line_bytes:
            raise SSEParseError(f"a line is longer than {self.max_line_bytes} bytes")
        return items

    def close(self) -> list[Event | Comment]:
        """End of stream: any unterminated line or block is discarded, as the spec says."""
        self._pending = b""
        self._reset_block()
        return []

    def _split_lf(self, buffer: bytes, items: list[Event | Comment]) -> None:
        lines = buffer.split(b"\n")
        self._pending = lines.pop()
        offset = self._offset
        for line in lines:
            offset += len(line) + 1
            self._line(line, offset, items)
        self._offset = offset

    def _split_any(self, buffer: bytes, items: list[Event | Comment]) -> None:
        start = 0
        for match in _LINE_END.finditer(buffer):
            self._line(buffer[start : match.start()], self._offset + match.start() + 1, items)
            start = match.end()
        if buffer.endswith(b"\r"):
            self._skip_lf = True
        self._pending = buffer[start:]
        self._offset += start

    def _line(self, line: bytes, end_offset: int, items: list[Event | Comment]) -> None:
        if len(line) > self.max_line_bytes:
            raise SSEParseError(f"a line is longer than {self.max_line_bytes} bytes")
        if not line:
            self._dispatch(end_offset, items)
            return
        field, _colon, value = line.partition(b":")
        if not field:
            items.append(Comment(_text(value), end_offset))
            return
        self._block_open = True
        if field == b"data":
            text = _text(value)
            self._data_bytes += len(value) + 1
            if self._data_bytes > self.max_event_bytes:
                raise SSEParseError(f"an event's data is larger than {self.max_event_bytes} bytes")
            self._data.append(text)
        elif field == b"event":
            self._event_type = _text(value)
        elif field == b"id":
            text = _text(value)
            if "\x00" not in text:
                self._id_buffer = text
                self._block_has_id = True
        elif field == b"retry":
            digits = value[1:] if value[:1] == b" " else value
            if digits.isdigit():
                self.retry = self._block_retry = int(digits)

    def _dispatch(self, end_offset: int, items: list[Event | Comment]) -> None:
        self.last_event_id = self._id_buffer
        if self._data:
            items.append(
                Event(
                    event=self._event_type or "message",
                    data="\n".join(self._data),
                    id=self.last_event_id,
                    retry=self._block_retry,
                    has_id=self._block_has_id,
                    offset=end_offset,
                )
            )
        self._reset_block()

    def _reset_block(self) -> None:
        self._data = []
        self._data_bytes = 0
        self._event_type = ""
        self._block_has_id = False
        self._block_retry = None
        self._block_open = False


def _text(value: bytes) -> str:
    if value[:1] == b" ":
        value = value[1:]
    return value.decode("utf-8", "replace")
