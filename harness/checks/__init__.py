"""Checks: pure functions of a plan and its history to a verdict. They never touch the network.

`CHECKS` is the one registry: the names scenarios may ask for, the order reports show them in,
and the evidence keys that `compare` follows from run to run (`Metric`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.checks.cap import check_duration_cap
from harness.checks.display import check_page_display
from harness.checks.headers import check_headers
from harness.checks.heartbeats import check_heartbeat_timing
from harness.checks.integrity import check_no_duplicates, check_no_loss, check_trace_propagation
from harness.checks.lifecycle import check_completion, check_reconnect_bounds
from harness.checks.results import CheckResult, Status, Verdict
from harness.history import History
from harness.plan import Plan


@dataclass(frozen=True)
class Metric:
    """A number in a check's evidence that `compare` follows: `growth` says how a rise is judged
    ("p99": by milliseconds, "reconnects": by a count, "duration": by a ratio, "info": never)."""

    key: str
    label: str
    growth: Literal["p99", "reconnects", "duration", "info"]


@dataclass(frozen=True)
class Check:
    name: str
    judge: Callable[[Plan, History], Verdict]
    metrics: tuple[Metric, ...] = ()
    needs_baseline: bool = False  # compares with the target's fault-free answer

    def run(self, plan: Plan, history: History) -> CheckResult:
        found = self.judge(plan, history)
        return CheckResult(self.name, found.status, found.detail, found.evidence, found.histograms)


CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        Check("headers", check_headers),
        Check(
            "heartbeat_timing",
            check_heartbeat_timing,
            (
                Metric("error_p50_ms", "heartbeat error p50 ms", "info"),
                Metric("error_p99_ms", "heartbeat error p99 ms", "p99"),
            ),
        ),
        Check("duration_cap", check_duration_cap, (Metric("longest_s", "longest stream s", "duration"),)),
        Check("no_duplicates", check_no_duplicates),
        Check("no_loss", check_no_loss, needs_baseline=True),
        Check("trace_propagation", check_trace_propagation),
        Check("completion", check_completion),
        Check("reconnect_bounds", check_reconnect_bounds, (Metric("max", "most reconnections", "reconnects"),)),
        Check("page_display", check_page_display, needs_baseline=True),
    )
}


def run_checks(plan: Plan, history: History) -> list[CheckResult]:
    """The checks the plan asks for, in registry order."""
    return [check.run(plan, history) for name, check in CHECKS.items() if name in plan.expect.checks]


def none_applicable(plan: Plan, why: str) -> list[CheckResult]:
    """The checks the plan asks for, every one not applicable: the scenario cannot run on this target."""
    return [CheckResult(name, Status.NOT_APPLICABLE, why) for name in CHECKS if name in plan.expect.checks]


__all__ = ["CHECKS", "Check", "CheckResult", "Metric", "Status", "Verdict", "none_applicable", "run_checks"]
