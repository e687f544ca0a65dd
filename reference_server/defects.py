"""Seeded defects: the reference server broken on purpose, one way at a time, for `sse-chaos selftest`.

Only the operator's environment picks one (`DEFECT=name`, read by config.py at start-up); no
request can. `Behaviour`'s methods are the contract's behaviour (docs/protocol.md), called at the
few places it lives; a defect overrides exactly one of them. Each defect names the check expected
to catch it and the catalogue scenarios that expose it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from reference_server.tracing import new_trace_id

Payload = dict[str, Any]
_A_DAY = 86_400.0  # "never again", as a finite delay a timer accepts


class ConnectionEnd(NamedTuple):
    """A connection that stops sending `after` seconds into its body, stays open and silent
    `silent_for` seconds, then closes."""

    after: float
    silent_for: float


class Behaviour:
    """The correct behaviour at each hook. The first word of a hook's docstring is where it is called."""

    def response_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """app.py: a stream response's headers (§3)."""
        return headers

    def resume_after(self, seq: int) -> int:
        """app.py: the seq after which a resume from `Last-Event-ID: SID:seq` replays (§5)."""
        return seq

    def resumed_trace_id(self, trace_id: str) -> str:
        """app.py: the trace id in a resumed response's header, given the stream's (§9)."""
        return trace_id

    def resume_ttl(self, ttl: float) -> float:
        """streams.py: how long a stream without a reader stays resumable (§5)."""
        return ttl

    def cap_deadline(self, started: float, attached: float, cap: float) -> float:
        """streams.py: when the producer ends the stream with `duration_cap`, from the stream's start
        and its latest connection's (§7)."""
        return started + cap

    def chunk_seqs(self, index: int) -> tuple[int, ...]:
        """streams.py: the payload `seq` of each content event that carries chunk `index` (§4.1)."""
        return (index,)

    def heartbeat_data(self, data: Payload) -> Payload:
        """streams.py: a heartbeat's payload (§4.2)."""
        return data

    def complete_data(self, data: Payload) -> Payload:
        """streams.py: the `complete` event's payload (§4.3)."""
        return data

    def heartbeat_gaps(self, interval: float) -> Iterator[float]:
        """connection.py: seconds from the body's start to the first heartbeat, then between heartbeats (§6)."""
        return itertools.repeat(interval)

    def connection_end(self, interval: float, silence: float, resumed: bool) -> ConnectionEnd | None:
        """connection.py: when a connection stops on its own before the stream ends; None: never (§4.3)."""
        return None


CORRECT = Behaviour()


class _HeaderChanged(Behaviour):
    def __init__(self, name: str, value: str | None) -> None:
        self.name, self.value = name, value  # value None: the header is left out

    def response_headers(self, headers: dict[str, str]) -> dict[str, str]:
        changed = {name: value for name, value in headers.items() if name != self.name}
        return changed if self.value is None else changed | {self.name: self.value}


class _ResumeShifted(Behaviour):
    def __init__(self, shift: int) -> None:
        self.shift = shift

    def resume_after(self, seq: int) -> int:
        return seq + self.shift


class _ResumeFromStart(Behaviour):
    def resume_after(self, seq: int) -> int:
        return -1


class _NewTraceOnResume(Behaviour):
    def resumed_trace_id(self, trace_id: str) -> str:
        return new_trace_id()


class _ForgottenOnDetach(Behaviour):
    def resume_ttl(self, ttl: float) -> float:
        return 0.0


class _CapIgnored(Behaviour):
    def cap_deadline(self, started: float, attached: float, cap: float) -> float:
        return math.inf


class _CapPerConnection(Behaviour):
    def cap_deadline(self, started: float, attached: float, cap: float) -> float:
        return attached + cap


class _CapEarly(Behaviour):
    def cap_deadline(self, started: float, attached: float, cap: float) -> float:
        return started + cap / 2


class _SeqGap(Behaviour):
    def chunk_seqs(self, index: int) -> tuple[int, ...]:
        return (index + 1,) if index >= 5 else (index,)


class _SeqRepeated(Behaviour):
    def chunk_seqs(self, index: int) -> tuple[int, ...]:
        return (index, index) if index == 5 else (index,)


class _HeartbeatTraceIsStreamId(Behaviour):
    def heartbeat_data(self, data: Payload) -> Payload:
        return data | {"trace_id": data["stream_id"]}


class _CapSaysFinished(Behaviour):
    def complete_data(self, data: Payload) -> Payload:
        return data | {"reason": "finished"} if data["reason"] == "duration_cap" else data


class _ChecksumOfNothing(Behaviour):
    def complete_data(self, data: Payload) -> Payload:
        return data | {"content_sha256": hashlib.sha256(b"").hexdigest()}


class _TotalCountsComplete(Behaviour):
    def complete_data(self, data: Payload) -> Payload:
        return data | {"total_chunks": data["total_chunks"] + 1}


class _HeartbeatGaps(Behaviour):
    """Gaps in heartbeat intervals: `first` to the first beat, `then` between the next ones; after
    `beats` beats, none."""

    def __init__(self, first: float, then: float, beats: int | None = None) -> None:
        self.first, self.then, self.beats = first, then, beats

    def heartbeat_gaps(self, interval: float) -> Iterator[float]:
        gaps = itertools.chain([self.first * interval], itertools.repeat(self.then * interval))
        if self.beats is None:
            return gaps
        return itertools.chain(itertools.islice(gaps, self.beats), itertools.repeat(_A_DAY))


class _ConnectionEnds(Behaviour):
    """Every connection (or only a stream's first) stops after `after` heartbeat intervals, silent
    for `silent_for` silence thresholds before it closes."""

    def __init__(self, after: float, silent_for: float, first_only: bool) -> None:
        self.after, self.silent_for, self.first_only = after, silent_for, first_only

    def connection_end(self, interval: float, silence: float, resumed: bool) -> ConnectionEnd | None:
        if resumed and self.first_only:
            return None
        return ConnectionEnd(self.after * interval, self.silent_for * silence)


@dataclass(frozen=True)
class Defect:
    name: str
    breaks: str  # the promise it breaks, as a client would see it
    check: str  # the sse-chaos check expected to catch it
    scenarios: tuple[str, ...]  # catalogue scenarios that expose it
    behaviour: Behaviour

    @property
    def hook(self) -> str:
        """The one `Behaviour` method it overrides."""
        return next(name for name in vars(type(self.behaviour)) if not name.startswith("_"))

    @property
    def where(self) -> str:
        """`file.py hook`: where in the server it acts."""
        doc = getattr(Behaviour, self.hook).__doc__ or ""
        return f"{doc.split(':')[0]} {self.hook}"


_CUT = ("reset-midstream",)  # a cut mid-answer: the client resumes with Last-Event-ID
_PLAIN = ("baseline",)  # a healthy link, a whole answer on one connection
_CAPPED = ("duration-cap",)  # an answer longer than the cap

DEFECTS: dict[str, Defect] = {
    defect.name: defect
    for defect in (
        Defect("resume-duplicates", "a resume replays the client's last event again", "no_duplicates", _CUT,
               _ResumeShifted(-1)),
        Defect("resume-skips", "a resume skips the event after the client's last", "no_loss", _CUT,
               _ResumeShifted(+1)),
        Defect("resume-restarts", "a resume replays the stream from its first event", "no_duplicates", _CUT,
               _ResumeFromStart()),
        Defect("resume-forgotten", "a stream is forgotten once its client disconnects: the resume fails",
               "completion", _CUT, _ForgottenOnDetach()),
        Defect("heartbeat-late", "heartbeats come every 1.5 intervals", "heartbeat_timing", _PLAIN,
               _HeartbeatGaps(1.5, 1.5)),
        Defect("heartbeat-early", "heartbeats come every 0.6 interval", "heartbeat_timing", _PLAIN,
               _HeartbeatGaps(0.6, 0.6)),
        Defect("heartbeat-first-early", "the first heartbeat comes with the body's start, not an interval later",
               "heartbeat_timing", _PLAIN, _HeartbeatGaps(0.0, 1.0)),
        Defect("heartbeat-stops", "heartbeats stop after the second while content still flows",
               "heartbeat_timing", _PLAIN, _HeartbeatGaps(1.0, 1.0, beats=2)),
        Defect("silent-stall", "a stream's first connection stops sending, open, for twice the silence threshold",
               "heartbeat_timing", _PLAIN, _ConnectionEnds(2, 2, first_only=True)),
        Defect("connection-timeout", "every connection is closed after four heartbeat intervals",
               "reconnect_bounds", _PLAIN, _ConnectionEnds(4, 0, first_only=False)),
        Defect("cap-ignored", "the stream runs on past the cap", "duration_cap", _CAPPED, _CapIgnored()),
        Defect("cap-per-connection", "the cap counts from the latest connection, not the stream's start",
               "duration_cap", ("cap-across-reconnects",), _CapPerConnection()),
        Defect("cap-early", "the stream is cut at half the cap, as duration_cap", "duration_cap", _CAPPED,
               _CapEarly()),
        Defect("cap-mislabelled", "a stream cut at the cap says it finished", "duration_cap", _CAPPED,
               _CapSaysFinished()),
        Defect("trace-lost-on-resume", "a resumed response carries a new trace id", "trace_propagation", _CUT,
               _NewTraceOnResume()),
        Defect("trace-wrong-in-events", "heartbeats carry the stream id as their trace id", "trace_propagation",
               _PLAIN, _HeartbeatTraceIsStreamId()),
        Defect("wrong-checksum", "content_sha256 is the checksum of an empty answer", "no_loss", _PLAIN,
               _ChecksumOfNothing()),
        Defect("wrong-totals", "total_chunks counts the complete event as a chunk", "no_loss", _PLAIN,
               _TotalCountsComplete()),
        Defect("seq-gap", "content seq jumps from 4 to 6", "no_loss", _PLAIN, _SeqGap()),
        Defect("seq-repeated", "chunk 5 is sent twice, the second time under a new event id", "no_duplicates",
               _PLAIN, _SeqRepeated()),
        Defect("no-cache-control", "stream responses have no Cache-Control", "headers", _PLAIN,
               _HeaderChanged("Cache-Control", None)),
        Defect("proxy-buffering", "stream responses say X-Accel-Buffering: yes", "headers", _PLAIN,
               _HeaderChanged("X-Accel-Buffering", "yes")),
    )
}  # fmt: skip
