# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled twin of `harness.sse._parser.SSEParser`: the same chunk frame (`_base.py`)
around a line interpreter in C, with the same rules, item offsets and size errors (which one,
and in which feed). It scans each chunk's bytes with memchr and decodes each field value once
instead of splitting, decoding and partitioning every line in Python. Change both together:
the tests hold them to the same vectors and compare them on random streams cut at random
places. An editable install builds this file once: after editing it, run `pip install -e .`
again (a test fails while the built module is older than this file).
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp

from harness.sse._base import ParserBase
from harness.sse._items import Comment, Event, retry_ms

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


cdef class LineInterpreter:
    """The parser's state, and its line interpreter in C; `SSEParser` below adds the chunk frame."""

    # the frame's (harness.sse._base.ParserBase) and the public state, in C for the interpreter
    cdef public Py_ssize_t max_line_bytes, max_event_bytes, bytes_fed, _offset, _block_start
    cdef public str last_event_id
    cdef public object retry
    cdef public bytes _pending
    cdef public bint _skip_lf, _at_start, _block_open
    # the rest of the open block
    cdef list _data
    cdef str _event_type, _id_buffer
    cdef bint _block_has_id
    cdef object _block_retry

    def __cinit__(self):
        self._data = []

    def _reset_block(self):
        self._data.clear()
        self._event_type = ""
        self._id_buffer = self.last_event_id
        self._block_has_id = False
        self._block_retry = None
        self._block_open = False

    def _interpret_lines(self, bytes buffer, list items):
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


class SSEParser(LineInterpreter, ParserBase):
    """`harness.sse._parser.SSEParser`, compiled: see `harness.sse`."""
