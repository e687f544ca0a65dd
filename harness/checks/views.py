"""Read-only views of a history, shaped the way checks reason: clients, connections, faults."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.faults import FaultNote, Slack
from harness.history import NEMESIS, History, Kind, Record
from harness.profile import TargetProfile
from harness.reading import answer_text, ends_stream, is_content, json_of
from harness.shards.clock import clock_widening


@dataclass
class Connection:
    number: int
    started: float
    responded: float | None = None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Record] = field(default_factory=list)
    comments: list[Record] = field(default_factory=list)
    reads: list[Record] = field(default_factory=list)
    ended: float | None = None  # its first error, else the client's outcome: when the client let go of it


@dataclass
class ClientView:
    name: str
    connections: list[Connection] = field(default_factory=list)
    duplicates: list[Record] = field(default_factory=list)
    outcome: str = ""
    outcome_detail: str = ""
    ended: float | None = None
    display: Record | None = None  # a browser client's page at the end
    truncated: Record | None = None  # the marker: its records reached the history's cap

    @property
    def events(self) -> list[Record]:
        return [event for connection in self.connections for event in connection.events]


@dataclass(frozen=True)
class FaultWindow:
    start: float
    end: float
    action: str
    slack: Slack


def client_views(history: History) -> list[ClientView]:
    views: dict[str, ClientView] = {}
    for record in history.records:
        if record.client == NEMESIS or record.kind in (Kind.FAULT_START, Kind.FAULT_END, Kind.LOOP_LAG, Kind.CPU_WAIT):
            continue
        view = views.setdefault(record.client, ClientView(record.client))
        _add(view, record, history.seconds(record))
    return list(views.values())


def _add(view: ClientView, record: Record, at: float) -> None:
    kind = record.kind
    if kind == Kind.ATTEMPT:
        view.connections.append(Connection(record.connection, at))
        return
    if kind == Kind.OUTCOME:
        view.outcome, view.outcome_detail, view.ended = record.outcome, record.detail, at
        if view.connections and view.connections[-1].ended is None:
            view.connections[-1].ended = at
        return
    if kind == Kind.DUPLICATE:
        view.duplicates.append(record)
        return
    if kind == Kind.DISPLAY:
        view.display = record
        return
    if kind == Kind.TRUNCATED:
        view.truncated = record
        return
    if not view.connections:
        return
    connection = view.connections[-1]
    if kind == Kind.RESPONSE:
        connection.status = record.status
        connection.responded = at
        connection.headers = {k.lower(): v for k, v in json.loads(record.detail or "{}").items()}
    elif kind == Kind.EVENT:
        connection.events.append(record)
    elif kind == Kind.COMMENT:
        connection.comments.append(record)
    elif kind == Kind.BYTES:
        connection.reads.append(record)
    elif kind == Kind.ERROR and record.connection == connection.number and connection.ended is None:
        connection.ended = at


def fault_windows(history: History) -> list[FaultWindow]:
    """Fault windows in seconds; a fault never removed lasts to the end of the history. In a merged
    history of shards, each is widened on both sides by how far the shards' clocks may disagree."""
    starts: dict[str, tuple[float, FaultNote]] = {}
    widening = clock_widening(history.anchors)
    windows = []
    for record in history.records:
        if record.kind == Kind.FAULT_START:
            starts[record.event_id] = (history.seconds(record), FaultNote.model_validate_json(record.detail))
        elif record.kind == Kind.FAULT_END and record.event_id in starts:
            start, note = starts.pop(record.event_id)
            windows.append(FaultWindow(start - widening, history.seconds(record) + widening, note.action, note.slack))
    for start, note in starts.values():
        windows.append(FaultWindow(start - widening, history.seconds(history.records[-1]), note.action, note.slack))
    return windows


def widening_note(history: History) -> str:
    """What a check that judges by fault windows says of a merged history's: how far apart the
    shards put each fault in and out (their windows joined), and the widening for their clocks."""
    widening = clock_widening(history.anchors)
    edges = history.of_kind(Kind.FAULT_START, Kind.FAULT_END)
    if widening == 0 or not edges:
        return ""
    apart = max(FaultNote.model_validate_json(edge.detail).shards_apart_s for edge in edges)
    return (
        f" (fault windows widened by ± {widening * 1000:.1f} ms: the shards' clocks agree to within that;"
        f" the shards put each fault in and out up to {apart * 1000:.1f} ms apart, their windows joined)"
    )


def payload(record: Record) -> dict[str, Any]:
    """An event's data as the contract's JSON (docs/protocol.md), or {} when it is not a JSON object."""
    value = json_of(record.data)
    return value if isinstance(value, dict) else {}


def content_events(events: Iterable[Record], profile: TargetProfile) -> list[Record]:
    """The events that carry the answer, in arrival order (not the data sentinel that ends a stream)."""
    return [event for event in events if is_content(profile, event.event, event.data)]


def answer_of(events: Iterable[Record], profile: TargetProfile) -> str:
    """The answer text the content events make together, read where the profile says it is."""
    return "".join(answer_text(profile, event.data) for event in content_events(events, profile))


def terminal_event(client: ClientView, profile: TargetProfile) -> Record | None:
    """The event that ended the client's stream, if one did."""
    return last_terminal(client.events, profile)


def last_terminal(events: list[Record], profile: TargetProfile) -> Record | None:
    return next((event for event in reversed(events) if ends_stream(profile, event.event, event.data)), None)


def final_attempt(client: ClientView) -> Connection | None:
    """The client's last connection that was answered 200: all a server that restarts leaves it."""
    return next((connection for connection in reversed(client.connections) if connection.status == 200), None)


def kept_events(client: ClientView, profile: TargetProfile) -> list[Record]:
    """What the answer a client keeps is made of: every event it took, when the server resumes; the
    final attempt's, when it restarts (a broken attempt's part answer is thrown away)."""
    if profile.resume:
        return client.events
    final = final_attempt(client)
    return final.events if final is not None else []


def kept_answer(client: ClientView, profile: TargetProfile) -> str:
    return answer_of(kept_events(client, profile), profile)


def baseline_missing(history: History) -> list[str]:
    """The problem, if any, with the baseline a check compares with: the target did not give it whole."""
    failure = history.baseline.failure if history.baseline is not None else None
    return [f"the target did not give the fault-free baseline whole ({failure})"] if failure else []


def reason_of(terminal: Record | None) -> object:
    """Why the stream ended, as its terminal event says (the contract's `reason`), if it says."""
    return payload(terminal).get("reason") if terminal is not None else None


def heartbeats(connection: Connection, profile: TargetProfile) -> list[Record]:
    if profile.heartbeat == "comment":
        return connection.comments
    return [event for event in connection.events if event.event == profile.heartbeat_event]
