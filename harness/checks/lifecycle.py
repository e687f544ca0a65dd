"""Completion and reconnection bounds."""

from __future__ import annotations

from collections import Counter

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import ClientView, client_views, reason_of, terminal_event
from harness.history import History
from harness.plan import Plan
from harness.target import DEFAULT_SILENCE_SECONDS
from harness.wording import counted


def check_completion(plan: Plan, history: History) -> Verdict:
    """Every client ended with the expected outcome, its records whole (not capped); with a
    `complete` expected and the contract's payload, its terminal event gives the expected reason
    (`finished`, `duration_cap`)."""
    wanted, reason = plan.expect.outcome, plan.expect.reason
    if plan.profile.endless and wanted == "complete":
        return _still_receiving(plan, history)
    judge_reason = wanted == "complete" and reason is not None and plan.profile.payload == "protocol"
    clients = client_views(history)
    outcomes = Counter(client.outcome or "unfinished" for client in clients)
    problems = [f"{client.name}: {client.truncated.detail}" for client in clients if client.truncated is not None]
    problems += [
        f"{client.name}: {client.outcome or 'unfinished'} ({client.outcome_detail})"
        for client in clients
        if client.outcome != wanted and client.truncated is None
    ]
    if judge_reason:
        for client in clients:
            given = reason_of(terminal_event(client, plan.profile))
            if client.outcome == wanted and client.truncated is None and given != reason:
                problems.append(f"{client.name}: ended with reason {str(given)[:40]!r}, expected {reason!r}")
    if not clients:
        problems.append("no client ran")
    ended = f"{wanted} ({reason})" if judge_reason else wanted
    return verdict(
        problems,
        f"{'all ' if len(clients) > 1 else ''}{counted(len(clients), 'client')} ended with {ended}",
        outcomes=dict(outcomes),
    )


def _still_receiving(plan: Plan, history: History) -> Verdict:
    """An endless feed completes by never ending: at its deadline every client is still connected
    (its last connection open, answered 200) and receiving (a read within the silence threshold)."""
    silence = plan.timing.silence or DEFAULT_SILENCE_SECONDS
    clients = client_views(history)
    problems = [f"{client.name}: {client.truncated.detail}" for client in clients if client.truncated is not None]
    for client in (client for client in clients if client.truncated is None):
        problem = _not_receiving(client, history, silence)
        if problem:
            problems.append(f"{client.name}: {problem}")
    if not clients:
        problems.append("no client ran")
    outcomes = Counter(client.outcome or "unfinished" for client in clients)
    ok = f"all {counted(len(clients), 'client')} still connected and receiving at their deadline (an endless feed)"
    return verdict(problems, ok, outcomes=dict(outcomes))


def _not_receiving(client: ClientView, history: History, silence: float) -> str | None:
    last = client.connections[-1] if client.connections else None
    connected = last is not None and last.status == 200 and last.ended == client.ended
    if client.outcome != "deadline" or last is None or not connected or client.ended is None:
        return f"not connected at its deadline: {client.outcome or 'unfinished'} ({client.outcome_detail})"
    quiet = client.ended - history.seconds(last.reads[-1]) if last.reads else client.ended - last.started
    if quiet >= silence:
        return f"nothing received for the last {quiet:.3f} s before its deadline (threshold {silence:g} s)"
    return None


def check_reconnect_bounds(plan: Plan, history: History) -> Verdict:
    low, high = plan.expect.min_reconnects, plan.expect.max_reconnects
    if low is None and high is None:
        return not_applicable("the scenario sets no reconnection bounds")
    counts = {client.name: max(0, len(client.connections) - 1) for client in client_views(history)}
    if not counts:
        return not_applicable("no client ran")
    problems = [
        f"{name}: {counted(count, 'reconnection')}, expected {_bounds(low, high)}"
        for name, count in counts.items()
        if (low is not None and count < low) or (high is not None and count > high)
    ]
    evidence = {"min": min(counts.values()), "max": max(counts.values())}
    return verdict(problems, f"reconnections {_bounds(low, high)} for every client", **evidence)


def _bounds(low: int | None, high: int | None) -> str:
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low}..{high}"
