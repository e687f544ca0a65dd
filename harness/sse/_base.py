"""What both parsers share: the chunk frame around their line interpreters.

It keeps the public state and the unfinished line, strips the leading BOM, joins a CR that
ends one chunk with an LF that starts the next, and checks the size bounds left open after
each chunk. A parser adds `_interpret_lines(buffer, items) -> int` (interpret every complete
line of `buffer`, return the bytes they took) and `_reset_block()`, and keeps `_block_open`
and `_block_start` (the stream offset of the open block's first line) up to date.
"""

from __future__ import annotations

from harness.sse._items import BOM, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES, Comment, Event, SSEParseError


class ParserBase:
    _block_open: bool
    _block_start: int

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
        self._block_start = 0
        self._reset_block()

    @property
    def incomplete(self) -> bool:
        """True when bytes of an unfinished line or block are waiting for more input."""
        return bool(self._pending) or self._block_open

    @property
    def unterminated_bytes(self) -> int:
        """Bytes of an unfinished line waiting for its line end."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[Event | Comment]:
        self.bytes_fed += len(data)
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                self._offset += 1
        buffer = self._pending + data if self._pending else bytes(data)
        if self._at_start:
            if len(buffer) < len(BOM) and BOM.startswith(buffer):
                self._pending = buffer
                return []
            self._at_start = False
            if buffer.startswith(BOM):
                buffer = buffer[len(BOM) :]
                self._offset += len(BOM)
        items: list[Event | Comment] = []
        consumed = self._interpret_lines(buffer, items)
        if buffer.endswith(b"\r"):
            self._skip_lf = True
        self._pending = buffer[consumed:]
        self._offset += consumed
        if len(self._pending) > self.max_line_bytes:
            self._line_too_long()
        if self._block_open and self._offset + len(self._pending) - self._block_start > self.max_event_bytes:
            self._event_too_large()
        return items

    def close(self) -> list[Event | Comment]:
        """End of stream: any unterminated line or block is discarded, as the spec says."""
        self._pending = b""
        self._reset_block()
        return []

    def _interpret_lines(self, buffer: bytes, items: list[Event | Comment]) -> int:
        raise NotImplementedError

    def _reset_block(self) -> None:
        raise NotImplementedError

    def _line_too_long(self) -> None:
        raise SSEParseError(f"a line is longer than {self.max_line_bytes} bytes")

    def _event_too_large(self) -> None:
        raise SSEParseError(f"an event is larger than {self.max_event_bytes} bytes")
