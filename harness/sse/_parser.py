"""The Python line interpreter of `harness.sse.SSEParser`; `_speedups.pyx` is its compiled twin.

Lines are split on bytes (CR, LF and CRLF; a CR ending one chunk and an LF starting the next
are one line end), then decoded as UTF-8 with replacement. Because CR and LF never occur
inside a UTF-8 sequence this equals decoding the stream first, and it keeps every item's
exact byte offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import accumulate, islice, repeat
from operator import add

from harness.sse._base import ParserBase
from harness.sse._items import Comment, Event, retry_ms

_LINE_END = re.compile(rb"\r\n|\r|\n")


# Items are built with tuple.__new__: it skips the generated __new__'s argument handling,
# a fifth of the parser's time on typical streams.
_new_item = tuple.__new__


class SSEParser(ParserBase):
    def _reset_block(self) -> None:
        """No block open: `_interpret` keeps these in locals and writes them back."""
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = self.last_event_id
        self._block_has_id = False
        self._block_retry: int | None = None
        self._block_open = False

    def _interpret_lines(self, buffer: bytes, items: list[Event | Comment]) -> int:
        if b"\r" in buffer:
            return self._interpret_any_line_ends(buffer, items)
        return self._interpret_lf_line_ends(buffer, items)

    def _interpret_any_line_ends(self, buffer: bytes, items: list[Event | Comment]) -> int:
        lines, ends, starts, start = [], [], [], 0
        for match in _LINE_END.finditer(buffer):
            lines.append(buffer[start : match.start()])
            starts.append(self._offset + start)
            ends.append(self._offset + match.start() + 1)
            start = match.end()
        if lines and max(map(len, lines)) > self.max_line_bytes:
            self._line_too_long()
        self._interpret([line.decode("utf-8", "replace") for line in lines], ends, starts, items)
        return start

    def _interpret_lf_line_ends(self, buffer: bytes, items: list[Event | Comment]) -> int:
        """The common case. One decode covers every complete line: LF never occurs inside a
        UTF-8 sequence and a replacement character is never LF, so the text splits into the
        same lines as the bytes, which give each line's offset."""
        lines = buffer.split(b"\n")
        unfinished = lines.pop()
        if lines and max(map(len, lines)) > self.max_line_bytes:
            self._line_too_long()
        complete = len(buffer) - len(unfinished)
        texts = buffer[:complete].decode("utf-8", "replace").split("\n")
        texts.pop()
        # with one-byte line ends, each line starts where the previous one's end offset is
        bounds = list(accumulate(map(add, map(len, lines), repeat(1)), initial=self._offset))
        self._interpret(texts, islice(bounds, 1, None), islice(bounds, len(lines)), items)
        return complete

    def _interpret(
        self, lines: list[str], ends: Iterable[int], starts: Iterable[int], items: list[Event | Comment]
    ) -> None:
        """The interpretation rules, line by line (`ends` are item offsets, `starts` each line's
        first byte); the block state lives in locals for speed."""
        data, event_type, id_buffer = self._data, self._event_type, self._id_buffer
        has_id, block_retry, block_open, block_start = (
            self._block_has_id,
            self._block_retry,
            self._block_open,
            self._block_start,
        )
        append = items.append
        for line, end, start in zip(lines, ends, starts, strict=True):
            if not line:
                self.last_event_id = id_buffer
                if block_open and end - block_start > self.max_event_bytes:
                    self._event_too_large()
                if data:
                    append(
                        _new_item(
                            Event, (event_type or "message", "\n".join(data), id_buffer, block_retry, has_id, end)
                        )
                    )
                    data = []
                event_type, has_id, block_retry, block_open = "", False, None, False
                continue
            field, _colon, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif not field:
                append(_new_item(Comment, (value, end)))
                continue
            elif field == "id":
                if "\x00" not in value:
                    id_buffer = value
                    has_id = True
            elif field == "event":
                event_type = value
            elif field == "retry" and value.isascii() and value.isdigit():
                self.retry = block_retry = retry_ms(value)
            if not block_open:
                block_open, block_start = True, start
        self._data, self._event_type, self._id_buffer = data, event_type, id_buffer
        self._block_has_id, self._block_retry, self._block_open, self._block_start = (
            has_id,
            block_retry,
            block_open,
            block_start,
        )
