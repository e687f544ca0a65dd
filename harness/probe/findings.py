"""What a probe's listenings say about a target, as profile fields, each with the plain words
that say why (the draft profile's comments and the terminal's summary)."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonpointer import resolve_pointer

from harness.probe.listen import Heard, Listening
from harness.profile import TargetProfile
from harness.reading import json_of
from harness.sse import Comment, Event
from harness.untrusted import printable

HEARTBEAT_NAMES = frozenset({"heartbeat", "ping", "keepalive", "keep-alive"})
# Where the shipped profiles find the answer: the reference's, OpenAI's, Anthropic's.
ANSWER_POINTERS = ("/content", "/choices/0/delta/content", "/delta/text")
TRACE_HEADERS = ("X-Trace-ID", "X-Request-ID", "request-id")
_TIMING_HEADERS = {
    "interval_header": ("X-Heartbeat-Interval", "heartbeat_interval"),
    "silence_header": ("X-Silence-Threshold", "silence_threshold"),
    "cap_header": ("X-Stream-Max-Seconds", "stream_max_seconds"),
}
_SENTINEL_CHARS = 16


@dataclass
class Findings:
    """Profile fields found, and why each (plain words, untrusted text already made printable)."""

    fields: dict[str, Any] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def found(self, name: str, value: Any, why: str) -> None:
        self.fields[name], self.why[name] = value, why


def heartbeats_of(listening: Listening) -> tuple[str, str, list[float]]:
    """The heartbeat style ("event", "comment" or "none"), the event's name, and when each came."""
    named = [heard for heard in listening.heard if _heartbeat_event(heard.item)]
    if named:
        assert isinstance(named[0].item, Event)
        return "event", named[0].item.event, [heard.seconds for heard in named]
    comments = [heard.seconds for heard in listening.heard if isinstance(heard.item, Comment)]
    return ("comment", "", comments) if comments else ("none", "", [])


def _heartbeat_event(item: Event | Comment) -> bool:
    return isinstance(item, Event) and item.event.lower() in HEARTBEAT_NAMES


def find(listening: Listening, resumes: bool | None, parent: TargetProfile) -> Findings:
    findings = Findings()
    style, name, times = heartbeats_of(listening)
    _heartbeat(findings, style, name, times)
    events = [event for event in listening.events if not _heartbeat_event(event)]
    content = Counter(event.event for event in events).most_common(1)[0][0] if events else "message"
    findings.found("content_event", content, f"the most frequent event is {printable(content, 60)!r}")
    _ending(findings, listening, events, content)
    sentinel = findings.fields.get("terminal_data")
    _payload(findings, [event.data for event in events if event.event == content and event.data != sentinel])
    _resume(findings, events, resumes)
    _headers(findings, listening, parent)
    return findings


def _heartbeat(findings: Findings, style: str, name: str, times: list[float]) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    period = round(statistics.median(gaps), 3) if gaps else None
    measured = f", {period:g} s apart (median of {len(gaps)})" if period else f" ({len(times)} heard: no period)"
    words = {
        "event": f"heartbeats are events named {printable(name, 60)!r}{measured}",
        "comment": f"heartbeats are comment lines{measured}",
        "none": "no heartbeats were heard",
    }
    findings.found("heartbeat", style, words[style])
    if style == "event":
        findings.found("heartbeat_event", name, words[style])
    if period:
        findings.fields["measured_period"] = period


def _ending(findings: Findings, listening: Listening, events: list[Event], content: str) -> None:
    """How a stream ends: all four fields, so that a profile saying otherwise differs."""
    terminal: list[str] = []
    sentinel, on_close, endless = "", False, not listening.ended
    last = events[-1] if events else None
    if endless:
        said = "still open when the probe stopped listening: a live feed (a longer --seconds tells a slow answer)"
    elif last is not None and last.event != content:
        terminal, said = [last.event], f"the stream ended after an event {printable(last.event, 60)!r}"
    elif last is not None and json_of(last.data) is None and len(last.data) <= _SENTINEL_CHARS:
        sentinel, said = last.data, f"the stream ended with the data {printable(last.data, _SENTINEL_CHARS)!r}"
    else:
        on_close, said = True, "the server closed the body after its last content: a clean end"
    for name, value in (("endless", endless), ("terminal_events", terminal)):
        findings.found(name, value, said)
    findings.found("terminal_data", sentinel, said)
    findings.found("ends_on_close", on_close, said)


def _payload(findings: Findings, data: list[str]) -> None:
    documents = [json_of(text) for text in data]
    if not data or any(document is None for document in documents):
        findings.found("payload", "opaque", "the content events' data is not JSON throughout")
        return
    if all(isinstance(d, dict) and {"stream_id", "trace_id", "seq"} <= d.keys() for d in documents):
        findings.found("payload", "protocol", "the content events carry stream_id, trace_id and seq (docs/protocol.md)")
        findings.found("answer", "/content", "the answer is at /content")
        return
    for pointer in ANSWER_POINTERS:
        texts = [resolve_pointer(document, pointer, None) for document in documents]
        if sum(isinstance(text, str) for text in texts) * 2 >= len(texts):
            findings.found("payload", "json", "the content events' data is JSON")
            findings.found("answer", pointer, f"text is at {pointer} in most content events")
            return
    findings.found("payload", "opaque", f"JSON, but no answer text at any of {', '.join(ANSWER_POINTERS)}")


def _resume(findings: Findings, events: list[Event], resumes: bool | None) -> None:
    with_ids = [event for event in events if event.has_id]
    if with_ids:
        findings.notes.append(f"events carry ids (the last: {printable(with_ids[-1].id, 60)!r})")
    retries = [event.retry for event in events if event.retry is not None]
    if retries:
        findings.notes.append(f"retry: {retries[-1]} ms")
    if resumes is None:
        findings.found("resume", False, "no event ids: nothing to resume from; a client asks again after a cut")
    elif resumes:
        findings.found("resume", True, "reconnecting with Last-Event-ID went on after that event")
    else:
        findings.found("resume", False, "reconnecting with Last-Event-ID did not go on after that event")


def _headers(findings: Findings, listening: Listening, parent: TargetProfile) -> None:
    present = {name.lower() for name, _value in listening.headers}
    trace = next((name for name in (parent.trace_header or "", *TRACE_HEADERS) if name.lower() in present), "")
    findings.found("trace_header", trace, f"the response has {trace}" if trace else "no trace or request id header")
    for header_field, (usual, timing) in _TIMING_HEADERS.items():
        name = next((n for n in (getattr(parent, header_field) or "", usual) if n and n.lower() in present), "")
        findings.found(header_field, name, f"the response advertises {name}" if name else f"no {usual} header")
        if not name and timing == "heartbeat_interval" and "measured_period" in findings.fields:
            period = findings.fields["measured_period"]
            findings.found(timing, period, f"no header advertises it: the period measured, {period:g} s")
    findings.fields.pop("measured_period", None)
    missing = [name for name in parent.required_headers if name.lower() not in present]
    if missing:
        findings.found("required_headers", [], f"the response lacks {', '.join(missing)}: none required")


def resumed(first: Listening, again: Listening, after: Event) -> bool:
    """Whether `again` (a reconnection with Last-Event-ID = after.id) went on with the event that
    followed `after` in `first`: the same id and data."""
    following = _events_with_ids_after(first.heard, after)
    came = [event for event in again.events if event.has_id and not _heartbeat_event(event)]
    return bool(following and came) and (following[0].id, following[0].data) == (came[0].id, came[0].data)


def _events_with_ids_after(heard: Sequence[Heard], after: Event) -> list[Event]:
    events = [item.item for item in heard if isinstance(item.item, Event) and item.item.has_id]
    events = [event for event in events if not _heartbeat_event(event)]
    return events[events.index(after) + 1 :] if after in events else []
