"""A check's verdict with the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.histograms import Histogram


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Verdict:
    """What a check function finds; the registry names it (`CheckResult`)."""

    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)  # the timing its percentiles come from


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)  # summary.json keeps them per scenario

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "evidence": self.evidence}


def verdict(
    problems: list[str], ok_detail: str, histograms: dict[str, Histogram] | None = None, **evidence: Any
) -> Verdict:
    """Pass with `ok_detail`, or fail naming the first problems and how many there were."""
    kept = histograms or {}
    if not problems:
        return Verdict(Status.PASS, ok_detail, evidence, kept)
    shown = "; ".join(problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return Verdict(Status.FAIL, shown + more, evidence | {"problems": len(problems)}, kept)


def not_applicable(why: str) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, why)
