"""A sans-IO Server-Sent Events parser, exact to the WHATWG "event stream interpretation".

Bytes in, items out; no I/O and no clock::

    parser = SSEParser()
    for item in parser.feed(chunk):      # any chunk boundaries, even one byte at a time
        if isinstance(item, Event): ...
        else: ...                        # Comment: servers often use them as heartbeats
    parser.close()                       # end of body: an unterminated block is discarded

Size bounds (`SSEParseError`, after which the parser cannot go on): every complete line of a
chunk is checked against `max_line_bytes` before any line of it is interpreted, and so is the
unfinished line left over. A block is checked against `max_event_bytes` at its blank line and
after every chunk while it is open, with or without data: its size runs from the first byte of
its first field line to the item offset of its blank line (comments inside it count). Whether a
bound breaks does not depend on how the stream was cut.

Two implementations of one behaviour share the chunk frame (`_base.py`): the line interpreter
of `_parser.py` in Python and of `_speedups.pyx`, its compiled twin (several times faster),
built by `pip install` when a C compiler is there.
`SSEParser` is the compiled one when it was built; `COMPILED` says which. The tests hold both
to the same vectors and to each other on random streams.
"""

from harness.sse._items import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES, Comment, Event, SSEParseError
from harness.sse._parser import SSEParser as PythonSSEParser

try:
    from harness.sse._speedups import SSEParser
except ImportError:  # built without a C compiler: the same behaviour, slower
    SSEParser = PythonSSEParser  # type: ignore[misc]

COMPILED = SSEParser is not PythonSSEParser

__all__ = [
    "COMPILED",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "Comment",
    "Event",
    "PythonSSEParser",
    "SSEParseError",
    "SSEParser",
]
