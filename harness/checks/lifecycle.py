"""Completion and reconnection bounds."""

from __future__ import annotations

from collections import Counter

from harness.checks.results import CheckResult, not_applicable, verdict
from harness.checks.views import client_views, expectations
from harness.history import History

COMPLETION = "completion"
RECONNECTS = "reconnect_bounds"


def check_completion(history: History) -> CheckResult:
    wanted = expectations(history).get("outcome", "complete")
    clients = client_views(history)
    outcomes = Counter(client.outcome or "unfinished" for client in clients)
    problems = [
        f"{client.name}: {client.outcome or 'unfinished'} ({client.outcome_detail})"
        for client in clients
        if client.outcome != wanted
    ]
    if not clients:
        problems.append("no client ran")
    return verdict(COMPLETION, problems, f"all {len(clients)} clients ended with {wanted}", outcomes=dict(outcomes))


def check_reconnect_bounds(history: History) -> CheckResult:
    expect = expectations(history)
    low, high = expect.get("min_reconnects"), expect.get("max_reconnects")
    if low is None and high is None:
        return not_applicable(RECONNECTS, "the scenario sets no reconnection bounds")
    counts = {client.name: max(0, len(client.connections) - 1) for client in client_views(history)}
    problems = [
        f"{name}: {count} reconnections, expected {_bounds(low, high)}"
        for name, count in counts.items()
        if (low is not None and count < low) or (high is not None and count > high)
    ]
    evidence = {"min": min(counts.values(), default=0), "max": max(counts.values(), default=0)}
    return verdict(RECONNECTS, problems, f"reconnections {_bounds(low, high)} for every client", **evidence)


def _bounds(low: int | None, high: int | None) -> str:
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low}..{high}"
