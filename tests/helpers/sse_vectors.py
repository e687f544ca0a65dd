"""The WHATWG interpretation rules as test vectors: bytes in, the items a parser must give out."""

from __future__ import annotations

from harness.sse import Comment, Event


def ev(data: str, event: str = "message", id: str = "", retry: int | None = None, has_id: bool = False) -> tuple:
    return ("event", event, data, id, retry, has_id)


def summary(items: list[Event | Comment]) -> list[tuple]:
    return [
        ("comment", item.text)
        if isinstance(item, Comment)
        else ev(item.data, item.event, item.id, item.retry, item.has_id)
        for item in items
    ]


VECTORS: dict[str, tuple[bytes, list[tuple]]] = {
    "simple data": (b"data: hello\n\n", [ev("hello")]),
    "named event": (b"event: tick\ndata: 1\n\n", [ev("1", "tick")]),
    "multi-line data joined by LF": (b"data: a\ndata: b\n\n", [ev("a\nb")]),
    "only one leading space removed": (b"data:  two\n\n", [ev(" two")]),
    "no space after colon": (b"data:x\n\n", [ev("x")]),
    "field without colon has empty value": (b"data\n\n", [ev("")]),
    "data with empty value then more": (b"data\ndata\n\n", [ev("\n")]),
    "CRLF line ends": (b"data: a\r\ndata: b\r\n\r\n", [ev("a\nb")]),
    "CR line ends": (b"data: a\rdata: b\r\r", [ev("a\nb")]),
    "mixed line ends": (b"data: a\r\n\rdata: b\n\r\n", [ev("a"), ev("b")]),
    "comment surfaced": (b": ping\n\n", [("comment", "ping")]),
    "empty comment": (b":\n", [("comment", "")]),
    "comment inside an event": (b"data: a\n: keep-alive\ndata: b\n\n", [("comment", "keep-alive"), ev("a\nb")]),
    "id persists across events": (b"id: 1\ndata: a\n\ndata: b\n\n", [ev("a", id="1", has_id=True), ev("b", id="1")]),
    "empty id resets": (b"id: 1\ndata: a\n\nid\ndata: b\n\n", [ev("a", id="1", has_id=True), ev("b", has_id=True)]),
    "id with NUL ignored": (
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [ev("a", id="1", has_id=True), ev("b", id="1")],
    ),
    "id without data updates last id": (b"id: 7\n\ndata: x\n\n", [ev("x", id="7")]),
    "no dispatch with empty data buffer": (b"event: x\nid: 3\n\n", []),
    "retry digits": (b"retry: 1500\ndata: a\n\n", [ev("a", retry=1500)]),
    "retry with sign ignored": (b"retry: +5\ndata: a\n\nretry: -1\ndata: b\n\n", [ev("a"), ev("b")]),
    "retry non-ascii digits ignored": ("retry: ١٢\ndata: a\n\n".encode(), [ev("a")]),
    "retry empty ignored": (b"retry:\ndata: a\n\n", [ev("a")]),
    "retry leading zeros": (b"retry: 00000000000000000000000250\ndata: a\n\n", [ev("a", retry=250)]),
    "retry zero": (b"retry: 0\ndata: a\n\n", [ev("a", retry=0)]),
    "retry of zeros only": (b"retry: 000\ndata: a\n\n", [ev("a", retry=0)]),
    "retry of 16 digits kept": (b"retry: 1000000000000000\ndata: a\n\n", [ev("a", retry=1000000000000000)]),
    "retry clamped": (b"retry: 9007199254740992\ndata: a\n\n", [ev("a", retry=9007199254740991)]),
    "retry of many digits clamped": (b"retry: " + b"9" * 40 + b"\ndata: a\n\n", [ev("a", retry=9007199254740991)]),
    "unknown field ignored": (b"foo: bar\ndata: a\n\n", [ev("a")]),
    "field names are case sensitive": (b"Data: a\ndata: b\n\n", [ev("b")]),
    "leading BOM stripped": (b"\xef\xbb\xbfdata: a\n\n", [ev("a")]),
    "second BOM kept": (b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", []),
    "BOM after a leading line end kept": (b"\n\xef\xbb\xbfdata: a\n\n", []),
    "utf-8 multibyte": ("data: café 東京 🚀\n\n".encode(), [ev("café 東京 🚀")]),
    "invalid utf-8 replaced": (b"data: a\xffb\n\n", [ev("a\ufffdb")]),
    "unterminated block discarded": (b"data: a\n\ndata: b\n", [ev("a")]),
    "unterminated line discarded": (b"data: a\n\ndata: b", [ev("a")]),
    "id of unfinished block never used": (b"id: 1\ndata: a\n\nid: 2\ndata: b", [ev("a", id="1", has_id=True)]),
    "event type resets after dispatch": (b"event: x\ndata: a\n\ndata: b\n\n", [ev("a", "x"), ev("b")]),
    "empty event field means message": (b"event:\ndata: a\n\n", [ev("a")]),
    "colon in value kept": (b"data: a:b: c\n\n", [ev("a:b: c")]),
}
