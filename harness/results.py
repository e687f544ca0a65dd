"""A scenario's run: its history and verdicts; the summary of many; the lines that tell them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.checks import CheckResult, Status
from harness.figures import Figures
from harness.histograms import Histogram, encoded
from harness.history import History


@dataclass
class ScenarioRun:
    name: str
    description: str
    history: History
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    wall_seconds: float = 0.0
    toxiproxy_unavailable: bool = False
    figures: Figures = field(default_factory=Figures)

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.status != Status.FAIL for r in self.results)

    @property
    def histograms(self) -> dict[str, Histogram]:
        """The timing its checks and figures kept as histograms, by name (each name is one's alone)."""
        kept = dict(self.figures.histograms)
        for result in self.results:
            kept |= result.histograms
        return kept

    @property
    def verdict(self) -> str:
        """pass, fail, or error: the run could not finish, which says nothing of the target."""
        return "error" if self.error else ("pass" if self.passed else "fail")


def summary_of(runs: list[ScenarioRun]) -> dict[str, Any]:
    return {
        "passed": all(run.passed for run in runs),
        "scenarios": [
            {
                "name": run.name,
                "description": run.description,
                "passed": run.passed,
                "error": run.error,
                "wall_seconds": round(run.wall_seconds, 3),
                "checks": [result.to_json() for result in run.results],
                "figures": run.figures.to_json(),
                "histograms": encoded(run.histograms),
            }
            for run in runs
        ],
    }


def verdict_lines(run: ScenarioRun, failed_only: bool = False, evidence: bool = False) -> list[str]:
    """One line per check (`name: status: detail`), after the run's error if it had one;
    `failed_only` keeps the failures, `evidence` adds each shown check's evidence below it."""
    lines = [f"error: {run.error}"] if run.error else []
    for result in run.results:
        if failed_only and result.status != Status.FAIL:
            continue
        lines.append(f"{result.name}: {result.status.value.replace('_', ' ')}: {result.detail}")
        if evidence and result.evidence:
            lines.append(f"  evidence: {json.dumps(result.evidence, sort_keys=True)}")
    if evidence:
        lines += [f"figure: {line}" for line in run.figures.lines()]
    return lines
