"""Completion and reconnection bounds."""

from __future__ import annotations

from collections import Counter

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import ClientView, client_views, reason_of, terminal_event
from harness.history import History
from harness.plan import Plan
from harness.wording import counted


def check_completion(plan: Plan, history: History) -> Verdict:
    """Every client ended with the expected outcome, its records whole (not capped); with a
    `complete` expected and the contract's payload, its terminal event gives the expected reason
    (`finished`, `duration_cap`)."""
    wanted, reason = plan.expect.outcome, plan.expect.reason
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
            given = _terminal_reason(client, plan.profile.terminal_events)
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


def _terminal_reason(client: ClientView, terminal_events: tuple[str, ...]) -> object:
    return reason_of(terminal_event(client, terminal_events))


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
