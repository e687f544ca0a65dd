"""Completion and reconnection bounds."""

from __future__ import annotations

from collections import Counter

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import client_views
from harness.history import History
from harness.plan import Plan


def check_completion(plan: Plan, history: History) -> Verdict:
    wanted = plan.expect.outcome
    clients = client_views(history)
    outcomes = Counter(client.outcome or "unfinished" for client in clients)
    problems = [
        f"{client.name}: {client.outcome or 'unfinished'} ({client.outcome_detail})"
        for client in clients
        if client.outcome != wanted
    ]
    if not clients:
        problems.append("no client ran")
    return verdict(problems, f"all {len(clients)} clients ended with {wanted}", outcomes=dict(outcomes))


def check_reconnect_bounds(plan: Plan, history: History) -> Verdict:
    low, high = plan.expect.min_reconnects, plan.expect.max_reconnects
    if low is None and high is None:
        return not_applicable("the scenario sets no reconnection bounds")
    counts = {client.name: max(0, len(client.connections) - 1) for client in client_views(history)}
    problems = [
        f"{name}: {count} reconnections, expected {_bounds(low, high)}"
        for name, count in counts.items()
        if (low is not None and count < low) or (high is not None and count > high)
    ]
    evidence = {"min": min(counts.values(), default=0), "max": max(counts.values(), default=0)}
    return verdict(problems, f"reconnections {_bounds(low, high)} for every client", **evidence)


def _bounds(low: int | None, high: int | None) -> str:
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low}..{high}"
