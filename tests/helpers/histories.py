"""Build protocol-shaped histories and their plans by hand, to prove checks can fail."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.checks import CHECKS, CheckResult, Status, run_checks
from harness.faults import FaultNote, make_fault
from harness.history import HARNESS, NEMESIS, Baseline, History, Kind, Record
from harness.plan import ClientPlan, Expectations, Plan, Request
from harness.profile import DEFAULT_PROFILE
from harness.target import Timing

STREAM = "0123456789abcdef"
TRACE = "a" * 32
HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    "x-trace-id": TRACE,
    "x-stream-id": STREAM,
    "x-stream-max-seconds": "6",
    "x-heartbeat-interval": "0.25",
    "x-silence-threshold": "1",
}


def headers_without(*names: str) -> dict[str, str]:
    """The contract's response headers without `names`."""
    return {name: value for name, value in HEADERS.items() if name not in names}


def built_plan(heartbeat: float = 0.25) -> Plan:
    """The plan of a fault-free scenario against the reference contract's fast timings."""
    return Plan(
        scenario="built",
        description="built by hand",
        profile=DEFAULT_PROFILE,
        timing=Timing(heartbeat=heartbeat, silence=1.0, cap=6.0),
        request=Request(url="http://sse.test/stream/search", params={}),  # not this machine: stamps alone are forgiven
        clients=ClientPlan(kind="http", count=1, stagger=0.0, deadline=16.0, max_attempts=30),
        faults=(),
        sweep=None,
        expect=Expectations(
            checks=tuple(CHECKS),
            outcome="complete",
            reason=None,
            min_reconnects=None,
            max_reconnects=None,
            heartbeat_tolerance=0.06,
            cap_tolerance=0.5,
        ),
        hard_deadline=26.0,
    )


def changed(plan: Plan, **parts: dict[str, Any]) -> Plan:
    """`plan` with fields of its parts changed, e.g. `changed(plan, expect={"max_reconnects": 0})`."""
    return plan.model_copy(
        update={name: getattr(plan, name).model_copy(update=values) for name, values in parts.items()}
    )


def judge(check: str, history: History) -> CheckResult:
    assert history.plan is not None
    return CHECKS[check].run(history.plan, history)


def judge_all(history: History) -> list[CheckResult]:
    assert history.plan is not None
    return run_checks(history.plan, history)


class HistoryBuilder:
    """One client's stream on a virtual clock; `t` is seconds since the epoch of the history."""

    def __init__(self, chunks: int = 8, heartbeat: float = 0.25, client: str = "c0") -> None:
        self.history = History(plan=built_plan(heartbeat), epoch_ns=0)
        self.chunks = [f" word{n}" for n in range(chunks)]
        self.client = client
        self.connection = -1

    def another(self, client: str) -> HistoryBuilder:
        """A builder of another client's stream into the same history."""
        other = HistoryBuilder(len(self.chunks), client=client)
        other.history = self.history
        return other

    def ordered(self) -> History:
        """The history with its records in time order, as a run records them."""
        self.history.records.sort(key=lambda r: r.t_ns)
        return self.history

    def change(self, **parts: dict[str, Any]) -> HistoryBuilder:
        """Change the plan's parts (`expect`, `timing`, `profile`...), see `changed`."""
        assert self.history.plan is not None
        self.history.plan = changed(self.history.plan, **parts)
        return self

    def baseline(self, content: str | None = None, reason: str = "finished") -> HistoryBuilder:
        """The fault-free answer: by default, the chunks this builder streams."""
        self.history.baseline = Baseline(content="".join(self.chunks) if content is None else content, reason=reason)
        return self

    def add(self, t: float, kind: Kind, client: str | None = None, **values: object) -> Record:
        record = Record(round(t * 1e9), client or self.client, kind.value, **values)  # type: ignore[arg-type]
        self.history.records.append(record)
        return record

    def connect(
        self,
        t: float,
        headers: dict[str, str] | None = None,
        status: int = 200,
        responds_after: float = 0.001,
        body_after: float | None = 0.0,
    ) -> None:
        """A connection attempt answered `responds_after` later; a 200's first bytes (the retry
        line) come `body_after` after its response, or never when None."""
        self.connection += 1
        self.add(t, Kind.ATTEMPT, connection=self.connection)
        responded = t + responds_after
        detail = json.dumps(HEADERS if headers is None else headers)
        self.add(responded, Kind.RESPONSE, connection=self.connection, status=status, detail=detail)
        if status == 200 and body_after is not None:
            self.add(responded + body_after, Kind.BYTES, connection=self.connection, nbytes=11)

    def refused(self, t: float, detail: str = "connection refused") -> None:
        """A connection attempt that failed without a response."""
        self.connection += 1
        self.add(t, Kind.ATTEMPT, connection=self.connection)
        self.add(t, Kind.ERROR, connection=self.connection, detail=detail)

    def chunk(self, t: float, seq: int, trace: str = TRACE, dropped: bool = False) -> None:
        data = json.dumps({"stream_id": STREAM, "trace_id": trace, "seq": seq, "content": self.chunks[seq]})
        kind = Kind.DUPLICATE if dropped else Kind.EVENT
        self.add(t, Kind.BYTES, connection=self.connection, nbytes=100)
        self.add(
            t,
            kind,
            connection=self.connection,
            event="content_chunk",
            event_id=f"{STREAM}:{seq}",
            has_id=True,
            data=data,
        )

    def event(self, t: float, event: str, data: str, event_id: str = "") -> None:
        """An event as the client read it, with an `id` field when `event_id`."""
        self.add(t, Kind.BYTES, connection=self.connection, nbytes=100)
        self.add(
            t, Kind.EVENT, connection=self.connection, event=event, event_id=event_id, has_id=bool(event_id), data=data
        )

    def heartbeat(self, t: float, uptime: float | None = None) -> None:
        """A heartbeat read at `t`; `uptime`: when the server says it sent it (its `uptime_seconds`)."""
        self.add(t, Kind.BYTES, connection=self.connection, nbytes=100)
        sent = {} if uptime is None else {"uptime_seconds": uptime}
        data = json.dumps({"stream_id": STREAM, "trace_id": TRACE} | sent)
        self.add(t, Kind.EVENT, connection=self.connection, event="heartbeat", data=data)

    def heartbeats(self, *times: float) -> HistoryBuilder:
        for t in times:
            self.heartbeat(t)
        return self

    def comment(self, t: float, text: str = "ping") -> None:
        self.add(t, Kind.BYTES, connection=self.connection, nbytes=7)
        self.add(t, Kind.COMMENT, connection=self.connection, data=text)

    def complete(
        self, t: float, reason: str | None = "finished", content: str | None = None, total: int | None = None
    ) -> None:
        """The terminal event (with no `reason` when None): by default it counts every chunk and
        sums the whole answer."""
        answer = "".join(self.chunks) if content is None else content
        data: dict[str, Any] = {"stream_id": STREAM, "trace_id": TRACE}
        if reason is not None:
            data["reason"] = reason
        data["total_chunks"] = len(self.chunks) if total is None else total
        data["content_sha256"] = hashlib.sha256(answer.encode()).hexdigest()
        self.add(t, Kind.BYTES, connection=self.connection, nbytes=100)
        event_id = f"{STREAM}:{len(self.chunks)}"
        self.add(
            t, Kind.EVENT, connection=self.connection, event="complete", event_id=event_id, has_id=True,
            data=json.dumps(data),
        )  # fmt: skip
        self.add(t, Kind.OUTCOME, connection=self.connection, outcome="complete", detail="terminal event 'complete'")

    def give_up(self, t: float, detail: str = "gave up") -> None:
        """The client gives up on its stream without a terminal event (and without an error)."""
        self.add(t, Kind.OUTCOME, connection=self.connection, outcome="gave_up", detail=detail)

    def loop_lag(self, t: float, lag_us: int, sampler: str = HARNESS, loop: str = "") -> None:
        """A lag sample of the harness's event loop (of its worker process `loop`, when given),
        or of the page of client `sampler`."""
        self.add(t, Kind.LOOP_LAG, client=sampler, event=loop, lag_us=lag_us)

    def cpu_wait(self, t: float, waited_us: int, role: str = "toxiproxy") -> None:
        """The longest run-queue wait of a process carrying streams (`role`) in the sample taken at `t`."""
        self.add(t, Kind.CPU_WAIT, client=HARNESS, event=role, lag_us=waited_us)

    def display(
        self, t: float, answer: str | None = None, trace_id: str = TRACE, states: list[str] | None = None
    ) -> None:
        """What a browser client's page showed at the end."""
        shown = {"trace_id": trace_id, "states": states or ["connecting", "connected", "disconnected"]}
        answer = "".join(self.chunks) if answer is None else answer
        self.add(t, Kind.DISPLAY, data=answer, detail=json.dumps(shown))

    def fault(self, start: float, end: float | None, action: str, fault_id: str = "f0", **attributes: int) -> None:
        """A fault applied at `start` and removed at `end` (never when None)."""
        note = FaultNote.of(make_fault(action, attributes), "p")
        self.add(start, Kind.FAULT_START, client=NEMESIS, event_id=fault_id, detail=note.model_dump_json())
        if end is not None:
            self.add(end, Kind.FAULT_END, client=NEMESIS, event_id=fault_id, detail=note.model_dump_json())

    def good_stream(self) -> HistoryBuilder:
        """Eight chunks over one second on one connection, heartbeats every 0.25 s."""
        self.connect(0.0)
        for seq in range(len(self.chunks)):
            self.chunk(0.05 + seq * 0.12, seq)
        for n in range(1, 4):
            self.heartbeat(0.001 + n * 0.25)
        self.complete(1.0)
        self.ordered()
        return self


def status(check: str, history: History) -> Status:
    return judge(check, history).status


def found(check: str, history: History) -> tuple[Status, str, dict[str, Any]]:
    """A check's status, detail and evidence, to compare whole."""
    result = judge(check, history)
    return result.status, result.detail, result.evidence
