"""Compare two runs: verdict changes and metric drift per scenario, with regression thresholds.

Works on the `summary.json` of two report directories, so it needs neither network nor
histories. A regression is a verdict that got worse (pass to fail, a scenario that errored
or disappeared) or a metric that grew beyond its threshold.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.checks import CHECKS
from harness.errors import ConfigurationError
from harness.figures import LABELS


@dataclass(frozen=True)
class Thresholds:
    p99_ms: float = 20.0  # heartbeat timing error p99 may grow this much
    reconnects: int = 2  # the most reconnections of any client may grow this much
    duration_ratio: float = 0.25  # wall time and longest stream may grow this fraction ...
    duration_floor_s: float = 0.5  # ... and only count when also more than this many seconds
    latency_ms: float = 100.0  # time to first content and the p99 gap between chunks may grow this much


@dataclass(frozen=True)
class Change:
    scenario: str
    item: str
    base: str
    new: str
    regression: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FIGURES = "figures"
# The figures whose rise is a regression (beyond --latency-ms); the others are shown.
_FIGURE_GROWTH = {"first_content_p50_ms": "latency", "first_content_p99_ms": "latency", "gap_p99_ms": "latency"}


@dataclass(frozen=True)
class _Metric:
    label: str
    check: str | None  # None: a field of the scenario itself; FIGURES: one of its latency figures
    key: str
    kind: str  # how a growth is judged: "p99", "reconnects", "duration", "latency" or "info"


_METRICS = (
    *(
        _Metric(metric.label, check.name, metric.key, metric.growth)
        for check in CHECKS.values()
        for metric in check.metrics
    ),
    _Metric("wall s", None, "wall_seconds", "duration"),
    *(_Metric(label, FIGURES, key, _FIGURE_GROWTH.get(key, "info")) for key, label in LABELS.items()),
)


def load_summary(report_dir: Path) -> dict[str, Any]:
    path = report_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
        scenarios = summary["scenarios"]
    except FileNotFoundError:
        raise ConfigurationError(f"{report_dir}: no summary.json (not a report directory)") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(f"{path}: not a summary written by sse-chaos") from None
    if not isinstance(scenarios, list):
        raise ConfigurationError(f"{path}: not a summary written by sse-chaos")
    return summary


def compare(base: dict[str, Any], new: dict[str, Any], thresholds: Thresholds | None = None) -> list[Change]:
    limits = thresholds or Thresholds()
    base_runs = {s["name"]: s for s in base["scenarios"]}
    new_runs = {s["name"]: s for s in new["scenarios"]}
    changes: list[Change] = []
    for name in [*base_runs, *(n for n in new_runs if n not in base_runs)]:
        before, after = base_runs.get(name), new_runs.get(name)
        if before is None or after is None:
            changes.append(Change(name, "scenario", _presence(before), _presence(after), after is None))
            continue
        changes.append(_verdict_change(name, before, after))
        changes += _check_changes(name, before, after)
        changes += _metric_changes(name, before, after, limits)
    return changes


def _presence(run: dict[str, Any] | None) -> str:
    return "absent" if run is None else _verdict(run)


def _verdict(run: dict[str, Any]) -> str:
    return "error" if run.get("error") else ("pass" if run.get("passed") else "fail")


def _verdict_change(name: str, before: dict[str, Any], after: dict[str, Any]) -> Change:
    rank = {"pass": 0, "fail": 1, "error": 2}
    old, now = _verdict(before), _verdict(after)
    return Change(name, "verdict", old, now, rank[now] > rank[old])


def _statuses(run: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in run.get("checks", [])}


def _check_changes(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    old, now = _statuses(before), _statuses(after)
    changes = []
    for check in [*old, *(c for c in now if c not in old)]:
        was, is_ = old.get(check, "absent"), now.get(check, "absent")
        if was != is_:
            changes.append(Change(name, check, was, is_, is_ == "fail" or (was == "pass" and is_ == "absent")))
    return changes


def _metric_changes(name: str, before: dict[str, Any], after: dict[str, Any], limits: Thresholds) -> list[Change]:
    changes = []
    for metric in _METRICS:
        old, now = _metric(before, metric), _metric(after, metric)
        if old is None or now is None:
            continue
        regression = _grew_too_much(metric.kind, old, now, limits)
        changes.append(Change(name, metric.label, f"{old:g}", f"{now:g}", regression))
    return changes


def _metric(run: dict[str, Any], metric: _Metric) -> float | None:
    if metric.check is None:
        value = run.get(metric.key)
    elif metric.check == FIGURES:
        value = run.get(FIGURES, {}).get("values", {}).get(metric.key)
    else:
        check = next((c for c in run.get("checks", []) if c["name"] == metric.check), {})
        value = check.get("evidence", {}).get(metric.key)
    return float(value) if isinstance(value, int | float) else None


def _grew_too_much(kind: str, old: float, now: float, limits: Thresholds) -> bool:
    growth = now - old
    if kind == "p99":
        return growth > limits.p99_ms
    if kind == "reconnects":
        return growth > limits.reconnects
    if kind == "latency":
        return growth > limits.latency_ms
    if kind == "duration":
        return growth > max(limits.duration_floor_s, old * limits.duration_ratio)
    return False
