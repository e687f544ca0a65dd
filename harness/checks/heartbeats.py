"""Check 2: heartbeats come at the advertised interval, and a healthy link is never silent.

Each connection is cut into spans: the body's start to its first heartbeat, heartbeat to
heartbeat, and the last heartbeat to the connection's end (its first error, or the client's
outcome). A span a fault touched is judged with the slack the fault grants, or not at all; one
off by more than the tolerance allows is forgiven only as far as the loop that stamped its late
end lagged at that moment, or a process carrying the stream on this machine (Toxiproxy, Chromium,
the embedded server) waited for a CPU then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise

from harness.checks.lag import (
    CPU_WAIT,
    LagSamples,
    cpu_waits,
    lag_at,
    lag_histograms,
    lag_samples,
    lag_summary,
    lag_within,
    loop_maxima,
    stamp_lags,
)
from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import (
    Connection,
    FaultWindow,
    client_views,
    fault_windows,
    heartbeats,
    payload,
    widening_note,
)
from harness.histograms import PRECISION, Histogram
from harness.history import HARNESS, READ_WINDOW_NS, History, Record, loop_name
from harness.plan import Plan
from harness.profile import TargetProfile
from harness.target import on_this_machine
from harness.wording import counted

_ON_THIS_MACHINE = " (or took the CPU from the target on this machine)"
_WAITED = ", or a process carrying the stream waited for a CPU"


class _Span(Enum):
    RIGHT = "right"
    FORGIVEN = "forgiven"
    WRONG = "wrong"
    EXCLUDED = "excluded"


ERROR = "heartbeat_error"
SILENCE = "silence"


@dataclass
class _Tally:
    # heartbeat to heartbeat: how far off the interval, either way
    errors: Histogram = field(default_factory=lambda: Histogram(ERROR))
    # on a healthy link: between reads, or from the last read to the end
    silences: Histogram = field(default_factory=lambda: Histogram(SILENCE))
    problems: list[str] = field(default_factory=list)
    judged: int = 0
    excluded: int = 0
    forgiven: int = 0
    forgiven_lag: float = 0.0  # the most lag a forgiveness leaned on
    largest_silence: float = 0.0  # on a healthy link: between reads, or from the last read to the end


@dataclass(frozen=True)
class _Rules:
    profile: TargetProfile
    interval: float
    tolerance: float
    after_sample: float  # how long after a lag sample a stamp may still be late by its lag
    windows: list[FaultWindow]
    shares_machine: bool  # the target runs where the harness and its browser take CPU from it

    def span(self, start: float, end: float, lags: LagSamples, tally: _Tally, early_too: bool = True) -> _Span:
        """Judge `end - start` against the interval; `early_too` False judges lateness only."""
        allowance = _allowance(start, end, self.windows)
        if allowance is None:
            tally.excluded += 1
            return _Span.EXCLUDED
        tally.judged += 1
        off = end - start - self.interval
        if not early_too:
            off = max(off, 0.0)
        limit = self.tolerance + allowance
        if abs(off) <= limit:
            return _Span.RIGHT
        # Too long: the later stamp may have been late. Too short: the earlier one may have.
        lag = lag_at(lags, end if off > 0 else start, self.after_sample)
        if self.shares_machine:
            # A loop blocked by its own work took a core from a target on this machine, which may
            # have sent late through no fault of its own: lag anywhere in the span counts, and for
            # a short span, in the interval before it, while its earlier heartbeat was held back.
            since = start if off > 0 else start - self.interval
            lag = max(lag, lag_within(lags, since, end, self.after_sample))
        if abs(off) > limit + lag:
            return _Span.WRONG
        tally.forgiven += 1
        tally.forgiven_lag = max(tally.forgiven_lag, lag)
        return _Span.FORGIVEN


def check_heartbeat_timing(plan: Plan, history: History) -> Verdict:
    interval, silence = plan.timing.heartbeat, plan.timing.silence
    if plan.profile.heartbeat == "none" or interval is None:
        return not_applicable("the target has no heartbeat or does not say its interval")
    tolerance, after_sample = plan.expect.heartbeat_tolerance, plan.lag_sample_seconds
    shares_machine = on_this_machine(plan.target)
    rules = _Rules(plan.profile, interval, tolerance, after_sample, fault_windows(history), shares_machine)
    lags = lag_samples(history)
    waited = any(sampler.startswith(CPU_WAIT) for sampler in lags)
    tally = _Tally()
    for client in client_views(history):
        # what stamps this client's records late: the harness's loop, a browser page's own, and
        # a process carrying the stream on this machine (Toxiproxy, Chromium) that waited for a CPU
        late = stamp_lags(history, lags, client.name) + cpu_waits(lags, history.loop_of(client.name))
        for connection in client.connections:
            if connection.responded is not None and connection.status == 200:
                _judge_connection(rules, f"{client.name}#{connection.number}", connection, history, late, tally)
    if silence is not None and tally.largest_silence >= silence:
        tally.problems.append(f"silence of {tally.largest_silence:.3f} s on a healthy link (threshold {silence:g} s)")
    if tally.judged == 0 and not tally.problems:
        return not_applicable("no heartbeat interval lay on a healthy link")
    lag_timing = lag_histograms(lags)
    evidence = _evidence(rules, tally) | lag_summary(lags, lag_timing)
    note = _lag_note(loop_maxima(lags), rules.tolerance) + widening_note(history)
    judged = counted(tally.judged, "interval")
    ok = (
        f"{judged} within ±{rules.tolerance * 1000:.0f} ms of {interval:g} s (plus the slack of a"
        f" fault they lay in); {tally.excluded} not judged: a fault's edge touched them; {tally.forgiven} forgiven:"
        f" the loop that stamped them lagged{_ON_THIS_MACHINE if rules.shares_machine else ''}"
        f"{_WAITED if waited else ''},"
        f" by up to {tally.forgiven_lag * 1000:.0f} ms{note}"
    )
    histograms = {histogram.name: histogram for histogram in (tally.errors, tally.silences) if histogram.count}
    precision = {"percentiles": PRECISION} if tally.errors.count or lag_timing else {}
    return verdict([problem + note for problem in tally.problems], ok, histograms | lag_timing, **evidence, **precision)


def _judge_connection(
    rules: _Rules, where: str, connection: Connection, history: History, lags: LagSamples, tally: _Tally
) -> None:
    assert connection.responded is not None
    reads = [history.seconds(record) for record in connection.reads]
    stamped = [(history.seconds(record), _server_stamp(record)) for record in heartbeats(connection, rules.profile)]
    beats = [read for read, _ in stamped]
    body = reads[0] if reads else connection.responded
    if beats:
        _first_beat(rules, where, connection.started, body, beats[0], lags, tally)
    for (start, sent_at), (stop, sent_next) in pairwise(stamped):
        found = rules.span(start, stop, lags, tally)
        if found is not _Span.EXCLUDED:
            tally.errors.record(abs(stop - start - rules.interval))
        if found is _Span.WRONG:
            by_server = "" if sent_at is None or sent_next is None else f"; sent {sent_next - sent_at:.3f} s apart"
            # read together (as a proxy that held them back lets them go), not merely early
            burst = "burst: " if stop - start < READ_WINDOW_NS / 1e9 else ""
            tally.problems.append(
                f"{where}: {burst}heartbeats {stop - start:.3f} s apart, expected {rules.interval:g} s{by_server}"
            )
    last = beats[-1] if beats else body
    end = max(last, reads[-1] if reads else last, connection.ended or last)
    if rules.span(last, end, lags, tally, early_too=False) is _Span.WRONG:
        tally.problems.append(f"{where}: no heartbeat for the last {end - last:.3f} s of the connection")
    for start, stop in pairwise([*reads, end]):
        if _allowance(start, stop, rules.windows) is not None:
            tally.silences.record(stop - start)
            tally.largest_silence = max(tally.largest_silence, stop - start)


def _server_stamp(record: Record) -> float | None:
    """When the server says it sent a heartbeat (docs/protocol.md's `uptime_seconds`): beside the
    arrival times it tells a late server from a late link or harness. Said, never judged."""
    stamp = payload(record).get("uptime_seconds")
    return float(stamp) if isinstance(stamp, int | float) else None


def _first_beat(
    rules: _Rules, where: str, requested: float, body: float, beat: float, lags: LagSamples, tally: _Tally
) -> None:
    """The server starts its heartbeat clock with the body. Its start is known only within bounds:
    after the request was sent, and before the first body byte was stamped (a browser may stamp
    it tens of milliseconds late). Late is judged from the body's first byte, early from the
    request: each bound errs only towards a pass, so a failure is certain."""
    if rules.span(body, beat, lags, tally, early_too=False) is _Span.WRONG:
        tally.problems.append(f"{where}: first heartbeat {beat - body:.3f} s after the body began")
    allowance = _allowance(requested, beat, rules.windows)
    if allowance is not None and beat - requested < rules.interval - rules.tolerance - allowance:
        tally.problems.append(
            f"{where}: first heartbeat {beat - requested:.3f} s after the request, expected {rules.interval:g} s"
        )


def _allowance(start: float, end: float, windows: list[FaultWindow]) -> float | None:
    """Extra tolerance for a span lying wholly inside faults that grant slack; None when it touches
    a fault's edge or a fault that grants none: then it cannot be judged."""
    extra = 0.0
    for window in windows:
        if end < window.start or start > window.end:
            continue
        inside = window.start <= start and end <= window.end
        if window.slack.heartbeat_s is None or not inside:
            return None
        extra = max(extra, window.slack.heartbeat_s)
    return extra


def _evidence(rules: _Rules, tally: _Tally) -> dict[str, float]:
    evidence: dict[str, float] = {}
    if tally.errors.count:
        evidence |= {
            "error_p50_ms": round(tally.errors.percentile(50) * 1000, 2),
            "error_p99_ms": round(tally.errors.percentile(99) * 1000, 2),
            "error_max_ms": round(tally.errors.largest() * 1000, 2),
        }
    return evidence | {
        "interval_s": rules.interval,
        "tolerance_s": rules.tolerance,
        "intervals_checked": tally.judged,
        "intervals_excluded_for_faults": tally.excluded,
        "intervals_forgiven_for_harness_lag": tally.forgiven,
        "largest_forgiven_lag_ms": round(tally.forgiven_lag * 1000, 2),
        "largest_silence_s": round(tally.largest_silence, 4),
    }


def _lag_note(largest: dict[str, float], tolerance: float) -> str:
    """What the verdict says when a loop that stamps records lagged by a good part of the tolerance:
    the one that lagged most (the harness's on a tie), by name."""
    lagged = {sampler: lag for sampler, lag in largest.items() if lag > tolerance / 2}
    if not lagged:
        return ""
    most = max(lagged, key=lambda sampler: (lagged[sampler], sampler.startswith(HARNESS)))
    whose = _loop_named(most)
    return f" ({whose} lagged: timing may be the harness's fault)"


def _loop_named(sampler: str) -> str:
    if sampler == HARNESS:
        return "the harness's own event loop"
    if sampler.startswith(f"{HARNESS}:"):  # a worker process's, a merged shard's
        return f"the event loop of the harness's {loop_name(sampler)}"
    return "a browser page's event loop"
