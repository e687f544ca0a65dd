# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled twin of `harness.sse._parser.SSEParser`: the same rules, item offsets, size
errors (which one, and in which feed) and public attributes. It scans each chunk's bytes in C
and decodes each field value once instead of splitting, decoding and partitioning every line
in Python. Change both together: the tests hold them to the same vectors and compare them on
random streams cut at random places. An editable install builds this file once: after editing
it, run `pip install -e .` again (a test fails while the built module is older than this file).
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp

from harness.sse._items import (
    BOM,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    Comment,
    Event,
    SSEParseError,
    retry_ms,
)

cdef object _new_item = tuple.__new__  # skips the NamedTuples' argument handling
cdef unsigned char LF = 10, CR = 13, COLON = 58, SPACE = 32


cdef inline Py_ssize_t _line_end(const unsigned char* p, Py_ssize_t start, Py_ssize_t n, bint any_cr) noexcept:
    """Index of the CR or LF that ends the line starting at `start`, or -1."""
    cdef const void* found
    cdef Py_ssize_t i
    if not any_cr:
        found = memchr(p + start, LF, n - start)
        return -1 if found == NULL else <const unsigned char*>found - p
    for i in range(start, n):
        if p[i] == LF or p[i] == CR:
            return i
    return -1


cdef inline Py_ssize_t _after_line_end(const unsigned char* p, Py_ssize_t end, Py_ssize_t n) noexcept:
    """Index of the next line's first byte: past the CR or LF at `end`, and an LF after a CR."""
    if p[end] == CR and end + 1 < n and p[end + 1] == LF:
        return end + 2
    return end + 1


cdef inline str _decode(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    return PyUnicode_DecodeUTF8(<const char*>p + start, end - start, "replace")


cdef inline bint _is_field(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, const char* name, Py_ssize_t size) noexcept:
    return end - start == size and memcmp(p + start, name, size) == 0


cdef inline bint _ascii_digits(const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept:
    cdef Py_ssize_t i
    if start == end:
        return False
    for i in range(start, end):
        if p[i] < 48 or p[i] > 57:
            return False
    return True


cdef class SSEParser:
    """`harness.sse._parser.SSEParser`, compiled: see `harness.sse`."""

    cdef public Py_ssize_t max_line_bytes, max_event_bytes, bytes_fed
    cdef public str last_event_id
    cdef public object retry
    cdef bytes _pending
    cdef Py_ssize_t _offset  # stream offset of the first byte of `_pending`
    cdef bint _skip_lf, _at_start
    # the open block
    cdef list _data
    cdef str _event_type, _id_buffer
    cdef bint _block_has_id, _block_open
    cdef object _block_retry
    cdef Py_ssize_t _block_start

    def __init__(
        self,
        str last_event_id = "",
        Py_ssize_t max_line_bytes = DEFAULT_MAX_LINE_BYTES,
        Py_ssize_t max_event_bytes = DEFAULT_MAX_EVENT_BYTES,
    ):
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.last_event_id = last_event_id
        self.retry = None
        self.bytes_fed = 0
        self._pending = b""
        self._offset = 0
        self._skip_lf = False
        self._at_start = True
        self._block_start = 0
        self._data = []
        self._reset_block()

    @property
    def incomplete(self):
        """True when bytes of an unfinished line or block are waiting for more input."""
        return bool(self._pending) or self._block_open

    @property
    def unterminated_bytes(self):
        """Bytes of an unfinished line waiting for its line end."""
        return len(self._pending)

    def feed(self, data):
        cdef bytes buffer
        cdef Py_ssize_t consumed
        self.bytes_fed += len(data)
        if self._skip_lf and len(data):
            self._skip_lf = False
            if data[0] == LF:
                data = data[1:]
                self._offset += 1
        buffer = self._pending + data if self._pending else bytes(data)
        if self._at_start:
            if len(buffer) < len(BOM) and BOM.startswith(buffer):
                self._pending = buffer
                return []
            self._at_start = False
            if buffer.startswith(BOM):
                buffer = buffer[len(BOM):]
                self._offset += len(BOM)
        items = []
        consumed = self._interpret(buffer, items)
        self._pending = buffer[consumed:]
        self._offset += consumed
        if len(self._pending) > self.max_line_bytes:
            self._line_too_long()
        if self._block_open and self._offset + len(self._pending) - self._block_start > self.max_event_bytes:
            self._event_too_large()
        return items

    def close(self):
        """End of stream: any unterminated line or block is discarded, as the spec says."""
        self._pending = b""
        self._reset_block()
        return []

    cdef int _reset_block(self) except -1:
        self._data.clear()
        self._event_type = ""
        self._id_buffer = self.last_event_id
        self._block_has_id = False
        self._block_retry = None
        self._block_open = False
        return 0

    cdef Py_ssize_t _interpret(self, bytes buffer, list items) except -1:
        """Every complete line of `buffer`; returns how many bytes they took."""
        cdef const unsigned char* p = buffer
        cdef Py_ssize_t n = len(buffer), start = 0, end
        cdef bint any_cr = memchr(p, CR, n) != NULL
        if n > self.max_line_bytes:
            self._check_line_lengths(p, n, any_cr)
        while True:
            end = _line_end(p, start, n, any_cr)
            if end < 0:
                return start
            self._line(p, start, end, items)
            if p[end] == CR and end + 1 == n:
                self._skip_lf = True
            start = _after_line_end(p, end, n)

    cdef int _check_line_lengths(self, const unsigned char* p, Py_ssize_t n, bint any_cr) except -1:
        """As the Python parser does, before interpreting any line of the chunk."""
        cdef Py_ssize_t start = 0, end
        while True:
            end = _line_end(p, start, n, any_cr)
            if end < 0:
                return 0
            if end - start > self.max_line_bytes:
                self._line_too_long()
            start = _after_line_end(p, end, n)

    cdef int _line(self, const unsigned char* p, Py_ssize_t start, Py_ssize_t end, list items) except -1:
        """The interpretation rules for the line `p[start:end]`."""
        cdef Py_ssize_t item_offset = self._offset + end + 1
        cdef Py_ssize_t field_end, value_start
        cdef const unsigned char* colon
        if start == end:
            self._dispatch(item_offset, items)
            return 0
        colon = <const unsigned char*>memchr(p + start, COLON, end - start)
        field_end = end if colon == NULL else colon - p
        value_start = end if colon == NULL else field_end + 1
        if value_start < end and p[value_start] == SPACE:
            value_start += 1
        if field_end == start:
            items.append(_new_item(Comment, (_decode(p, value_start, end), item_offset)))
            return 0
        if _is_field(p, start, field_end, b"data", 4):
            self._data.append(_decode(p, value_start, end))
        elif _is_field(p, start, field_end, b"id", 2):
            if memchr(p + value_start, 0, end - value_start) == NULL:
                self._id_buffer = _decode(p, value_start, end)
                self._block_has_id = True
        elif _is_field(p, start, field_end, b"event", 5):
            self._event_type = _decode(p, value_start, end)
        elif _is_field(p, start, field_end, b"retry", 5) and _ascii_digits(p, value_start, end):
            self.retry = self._block_retry = retry_ms((<const char*>p)[value_start:end])
        if not self._block_open:
            self._block_open = True
            self._block_start = self._offset + start
        return 0

    cdef int _dispatch(self, Py_ssize_t item_offset, list items) except -1:
        """A blank line: the open block becomes an event when it has data."""
        self.last_event_id = self._id_buffer
        if self._block_open and item_offset - self._block_start > self.max_event_bytes:
            self._event_too_large()
        if self._data:
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            items.append(
                _new_item(
                    Event,
                    (
                        self._event_type or "message",
                        data,
                        self._id_buffer,
                        self._block_retry,
                        self._block_has_id,
                        item_offset,
                    ),
                )
            )
            self._data.clear()
        self._event_type = ""
        self._block_has_id = False
        self._block_retry = None
        self._block_open = False
        return 0

    cdef int _line_too_long(self) except -1:
        raise SSEParseError(f"a line is longer than {self.max_line_bytes} bytes")

    cdef int _event_too_large(self) except -1:
        raise SSEParseError(f"an event is larger than {self.max_event_bytes} bytes")
