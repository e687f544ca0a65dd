"""Checks 2 and 3: heartbeat timing and the duration cap."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import ClientView, FaultWindow, client_views, fault_windows, heartbeats, payload
from harness.history import HARNESS, History, Kind, Record
from harness.plan import Plan

_LAG_SLACK_SECONDS = 0.06


def check_heartbeat_timing(plan: Plan, history: History) -> Verdict:
    profile = plan.profile
    interval, silence = plan.timing.heartbeat, plan.timing.silence
    if profile.heartbeat == "none" or interval is None:
        return not_applicable("the target has no heartbeat or does not say its interval")
    tolerance = plan.expect.heartbeat_tolerance
    windows = fault_windows(history)
    lags = _lag_samples(history)
    errors: list[float] = []
    problems: list[str] = []
    excluded = forgiven = 0
    largest_read_gap = 0.0
    for client in client_views(history):
        # what stamps this client's records late: the harness's loop, and a browser page's own
        stamp_lags = lags.get(HARNESS, []) + lags.get(client.name, [])
        for connection in client.connections:
            if connection.responded is None or connection.status != 200:
                continue
            where = f"{client.name}#{connection.number}"
            beats = [history.seconds(r) for r in heartbeats(connection, profile)]
            reads = [history.seconds(r) for r in connection.reads]
            end = reads[-1] if reads else connection.responded
            # The first interval starts at the first body byte: that is when the server starts
            # the body and its heartbeat clock; headers can travel ahead of it.
            marks = [reads[0] if reads else connection.responded, *beats]
            for index, (a, b) in enumerate(pairwise(marks)):
                allowance = _allowance(a, b, windows)
                if allowance is None:
                    excluded += 1
                    continue
                gap = b - a
                if index > 0:
                    errors.append(gap - interval)
                # After the response only lateness counts; between heartbeats, both ways.
                excess = abs(gap - interval) if index > 0 else gap - interval
                outcome = _judge(excess, tolerance + allowance, _stamping_lag(stamp_lags, a, b))
                forgiven += outcome == _FORGIVEN
                if outcome == _WRONG and index > 0:
                    problems.append(f"{where}: heartbeats {gap:.3f} s apart, expected {interval:g} s")
                elif outcome == _WRONG:
                    problems.append(f"{where}: first heartbeat {gap:.3f} s after the body began")
            tail = end - marks[-1]
            if _allowance(marks[-1], end, windows) is not None:
                outcome = _judge(tail - interval, tolerance, _stamping_lag(stamp_lags, marks[-1], end))
                forgiven += outcome == _FORGIVEN
                if outcome == _WRONG:
                    problems.append(f"{where}: no heartbeat for the last {tail:.3f} s of the connection")
            for a, b in pairwise(reads):
                if _allowance(a, b, windows) is not None:
                    largest_read_gap = max(largest_read_gap, b - a)
    if silence is not None and largest_read_gap >= silence:
        problems.append(f"silence of {largest_read_gap:.3f} s on a healthy link (threshold {silence:g} s)")
    evidence = (
        _error_summary(errors)
        | {
            "interval_s": interval,
            "tolerance_s": tolerance,
            "intervals_checked": len(errors),
            "intervals_excluded_for_faults": excluded,
            "intervals_forgiven_for_harness_lag": forgiven,
            "largest_read_gap_s": round(largest_read_gap, 4),
        }
        | _loop_lag(lags)
    )
    if not errors and not problems:
        return not_applicable("no two consecutive heartbeats arrived on a healthy link")
    note = _lag_note(evidence, tolerance)
    ok = f"{len(errors)} intervals within ±{tolerance * 1000:.0f} ms of {interval:g} s{note}"
    return verdict([p + note for p in problems], ok, **evidence)


def _lag_note(evidence: dict[str, float], tolerance: float) -> str:
    """What the verdict says when a loop that stamps records lagged by a good part of the tolerance."""
    harness, page = evidence.get("harness_loop_lag_max_ms", 0), evidence.get("page_loop_lag_max_ms", 0)
    if max(harness, page) <= tolerance * 500:
        return ""
    whose = "the harness's own event loop" if harness >= page else "a browser page's event loop"
    return f" ({whose} lagged: timing may be the harness's fault)"


_RIGHT, _FORGIVEN, _WRONG = "right", "forgiven", "wrong"


def _judge(excess: float, limit: float, harness_lag: float) -> str:
    """Within the limit; beyond it only by as much as the harness's own loop lagged; or wrong."""
    if excess <= limit:
        return _RIGHT
    return _FORGIVEN if excess <= limit + harness_lag else _WRONG


def _allowance(start: float, end: float, windows: list[FaultWindow]) -> float | None:
    """Extra tolerance for a span the faults it touches grant slack to (lying wholly inside them);
    None when it touches a fault edge or a fault that grants none: the span cannot be judged."""
    extra = 0.0
    for window in windows:
        if end < window.start or start > window.end:
            continue
        inside = window.start <= start and end <= window.end
        if window.slack.heartbeat_s is None or not inside:
            return None
        extra = max(extra, window.slack.heartbeat_s)
    return extra


def _lag_samples(history: History) -> dict[str, list[tuple[float, float]]]:
    """(time, lag) samples in seconds, by who took them: the harness, or a browser client's page."""
    samples: dict[str, list[tuple[float, float]]] = {}
    for record in history.of_kind(Kind.LOOP_LAG):
        samples.setdefault(record.client, []).append((history.seconds(record), record.lag_us / 1e6))
    return samples


def _stamping_lag(lags: list[tuple[float, float]], start: float, end: float) -> float:
    """The worst lag of the event loop that stamped this span (the harness's, or a page's).

    A sample at time t with lag L means the loop was blocked during [t - L, t]; a heartbeat
    stamped then, or just after (the sampler and the stamp may run in either order once the
    loop is free), was stamped late by up to L, through no fault of the server.
    """
    return max(
        (lag for at, lag in lags if at + _LAG_SLACK_SECONDS >= start and at - lag <= end),
        default=0.0,
    )


def _error_summary(errors: list[float]) -> dict[str, float]:
    if not errors:
        return {}
    ms = np.abs(np.array(errors)) * 1000
    return {
        "error_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "error_p99_ms": round(float(np.percentile(ms, 99)), 2),
        "error_max_ms": round(float(ms.max()), 2),
    }


def _loop_lag(lags: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """p99 and max of the harness's loop lag, and of the browser pages' (all pages together)."""
    by_sampler: dict[str, list[float]] = {}
    for client, samples in lags.items():
        by_sampler.setdefault("harness" if client == HARNESS else "page", []).extend(lag * 1000 for _, lag in samples)
    evidence = {}
    for sampler, ms in sorted(by_sampler.items()):
        evidence[f"{sampler}_loop_lag_p99_ms"] = round(float(np.percentile(ms, 99)), 2)
        evidence[f"{sampler}_loop_lag_max_ms"] = round(max(ms), 2)
    return evidence


def check_duration_cap(plan: Plan, history: History) -> Verdict:
    profile = plan.profile
    cap = plan.timing.cap
    if cap is None:
        return not_applicable("the target does not advertise or declare a duration cap")
    tolerance = plan.expect.cap_tolerance + max((w.slack.delay_s for w in fault_windows(history)), default=0.0)
    problems: list[str] = []
    durations: list[float] = []
    capped = 0
    for client in client_views(history):
        if not client.connections:
            continue
        duration, terminal = _stream_span(client, history, profile.terminal_events)
        durations.append(duration)
        reason = payload(terminal).get("reason") if terminal is not None else None
        if reason == "duration_cap":
            capped += 1
        if duration > cap + tolerance:
            problems.append(f"{client.name}: stream lasted {duration:.2f} s, cap {cap:g} s")
        if plan.expect.reason == "duration_cap" and reason != "duration_cap":
            problems.append(f"{client.name}: ended with {reason or 'no terminal event'}, not complete/duration_cap")
    evidence = {
        "cap_s": cap,
        "tolerance_s": round(tolerance, 3),
        "streams": len(durations),
        "capped": capped,
        "longest_s": round(max(durations, default=0.0), 3),
    }
    return verdict(problems, f"longest stream {evidence['longest_s']} s within cap {cap:g} s", **evidence)


def _stream_span(client: ClientView, history: History, terminal_events: tuple[str, ...]) -> tuple[float, Record | None]:
    first = client.connections[0]
    start = first.responded if first.responded is not None else first.started
    terminal = next((e for e in reversed(client.events) if e.event in terminal_events), None)
    if terminal is not None:
        return history.seconds(terminal) - start, terminal
    return (client.ended or start) - start, None
