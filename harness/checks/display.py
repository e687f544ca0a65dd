"""What a browser client's page showed: the answer once and whole, the stream's trace id, and
a status indicator that went back to connected after each reconnection."""

from __future__ import annotations

import json
from typing import Any

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import ClientView, answer_of, baseline_missing, client_views
from harness.history import History
from harness.plan import Plan
from harness.profile import TargetProfile
from harness.wording import counted


def check_page_display(plan: Plan, history: History) -> Verdict:
    profile = plan.profile
    shown = [client for client in client_views(history) if client.display is not None]
    if not shown:
        return not_applicable("no browser client ran")
    if profile.payload != "protocol":
        return not_applicable("the target's payload has no answer text to compare")
    baseline = history.baseline.content if history.baseline is not None else None
    problems = baseline_missing(history)
    for client in shown:
        problems += [f"{client.name}: {problem}" for problem in _page_problems(client, baseline, profile)]
    return verdict(problems, f"{counted(len(shown), 'page')} showed the whole answer once", pages=len(shown))


def _page_problems(client: ClientView, baseline: str | None, profile: TargetProfile) -> list[str]:
    assert client.display is not None
    answer = client.display.data
    page: dict[str, Any] = json.loads(client.display.detail or "{}")
    received = answer_of(client.events, profile)
    trace_header = (profile.trace_header or "").lower()
    problems = []
    if answer != received:
        problems.append(f"the page shows {len(answer)} characters of answer, the stream delivered {len(received)}")
    if client.outcome == "complete" and baseline is not None and answer != baseline:
        problems.append("the answer shown differs from the fault-free baseline")
    trace_ids = {c.headers[trace_header] for c in client.connections if trace_header in c.headers}
    if trace_ids and page.get("trace_id") not in trace_ids:
        problems.append(f"the page shows trace id {str(page.get('trace_id'))[:64]!r}, not the stream's")
    states = page.get("states", [])
    reconnected = len(client.connections) > 1
    if reconnected and client.outcome == "complete" and not _recovered(states):
        problems.append(f"the status never went from reconnecting back to connected (shown: {states[:12]})")
    return problems


def _recovered(states: list[str]) -> bool:
    return "reconnecting" in states and "connected" in states[states.index("reconnecting") :]
