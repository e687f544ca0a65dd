"""Check 3: no logical stream outlives the duration cap, and a stream ends with `duration_cap`
exactly when it reached the cap: not long before it, and not past it under another name."""

from __future__ import annotations

from dataclasses import dataclass

from harness.checks.lag import LagSamples, lag_at, lag_samples, stamp_lags
from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import (
    ClientView,
    FaultWindow,
    client_views,
    fault_windows,
    payload,
    reason_of,
    terminal_event,
    widening_note,
)
from harness.history import History, Record
from harness.plan import Plan
from harness.profile import TargetProfile

CAPPED = "duration_cap"


@dataclass(frozen=True)
class _Span:
    """A client's logical stream: from its first response to its terminal event (or its end)."""

    start: float
    end: float
    terminal: Record | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class _Rules:
    cap: float
    tolerance: float
    delay: float  # the most a fault delayed bytes: a stream may end that much later
    windows: list[FaultWindow]
    after_sample: float
    labelled: bool  # the terminal event says why it ended (the contract's `reason`)

    def problems(self, span: _Span, lags: LagSamples) -> list[str]:
        cap, reason = self.cap, _reason(span)
        if span.seconds > cap + self.tolerance + self.delay:
            return [f"stream lasted {span.seconds:.2f} s, cap {cap:g} s"]
        if not self.labelled or span.terminal is None:
            return []
        if reason == CAPPED and span.seconds < cap - self.tolerance:
            return [f"ended with {CAPPED} after {span.seconds:.2f} s, before the cap of {cap:g} s"]
        said = payload(span.terminal).get("duration")  # the server's own count, from the stream's start
        if reason != CAPPED and isinstance(said, int | float) and not isinstance(said, bool) and said >= cap:
            return [f"the server says it ran {said:g} s, at or past the cap of {cap:g} s, and ended with {reason!r}"]
        # Past the cap under another name: judged only on a link that delivered the terminal event
        # on time (a fault that cut the stream or held it back makes its arrival time say nothing).
        if reason == CAPPED or self._disrupted(span):
            return []
        if span.seconds > cap + self.delay + lag_at(lags, span.end, self.after_sample):
            return [f"ran {span.seconds:.2f} s, past the cap of {cap:g} s, and ended with {reason or 'no reason'!r}"]
        return []

    def _disrupted(self, span: _Span) -> bool:
        return any(w.slack.heartbeat_s is None and w.start <= span.end and w.end >= span.start for w in self.windows)


def check_duration_cap(plan: Plan, history: History) -> Verdict:
    cap = plan.timing.cap
    if plan.profile.endless:
        return not_applicable("an endless feed has no cap: each client watches it to its deadline")
    if cap is None:
        return not_applicable("the target does not advertise or declare a duration cap")
    streams = [client for client in client_views(history) if client.connections]
    if not streams:
        return not_applicable("no client made a connection")
    windows = fault_windows(history)
    delay = max((window.slack.delay_s for window in windows), default=0.0)
    labelled = plan.profile.payload == "protocol"
    rules = _Rules(cap, plan.expect.cap_tolerance, delay, windows, plan.lag_sample_seconds, labelled)
    lags = lag_samples(history)
    problems: list[str] = []
    spans = {client.name: _span(client, history, plan.profile) for client in streams}
    for name, span in spans.items():
        problems += [f"{name}: {problem}" for problem in rules.problems(span, stamp_lags(history, lags, name))]
    evidence = {
        "cap_s": cap,
        "tolerance_s": round(rules.tolerance + delay, 3),
        "streams": len(spans),
        "capped": sum(_reason(span) == CAPPED for span in spans.values()),
        "longest_s": round(max(span.seconds for span in spans.values()), 3),
    }
    note = widening_note(history)
    ok = f"longest stream {evidence['longest_s']} s within cap {cap:g} s (+{evidence['tolerance_s']:g} s tolerance)"
    return verdict([problem + note for problem in problems], ok + note, **evidence)


def _span(client: ClientView, history: History, profile: TargetProfile) -> _Span:
    first = client.connections[0]
    start = first.responded if first.responded is not None else first.started
    terminal = terminal_event(client, profile)
    if terminal is not None:
        return _Span(start, history.seconds(terminal), terminal)
    return _Span(start, client.ended or start, None)


def _reason(span: _Span) -> object:
    return reason_of(span.terminal)
