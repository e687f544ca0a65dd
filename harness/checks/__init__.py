"""Checks: pure functions from a History to a verdict. They never touch the network."""

from __future__ import annotations

from collections.abc import Callable

from harness.checks.display import check_page_display
from harness.checks.headers import check_headers
from harness.checks.integrity import check_no_duplicates, check_no_loss, check_trace_propagation
from harness.checks.lifecycle import check_completion, check_reconnect_bounds
from harness.checks.results import CheckResult, Status
from harness.checks.timing import check_duration_cap, check_heartbeat_timing
from harness.history import History

CHECKS: dict[str, Callable[[History], CheckResult]] = {
    "headers": check_headers,
    "heartbeat_timing": check_heartbeat_timing,
    "duration_cap": check_duration_cap,
    "no_duplicates": check_no_duplicates,
    "no_loss": check_no_loss,
    "trace_propagation": check_trace_propagation,
    "completion": check_completion,
    "reconnect_bounds": check_reconnect_bounds,
    "page_display": check_page_display,
}


def run_checks(history: History) -> list[CheckResult]:
    """The checks the scenario asked for (all by default), in catalogue order."""
    wanted = history.meta.get("expect", {}).get("checks", list(CHECKS))
    return [check(history) for name, check in CHECKS.items() if name in wanted]


__all__ = ["CHECKS", "CheckResult", "Status", "run_checks"]
