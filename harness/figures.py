"""The latency figures streaming-API users read, under faults: time to first content (from a
client's first request), the gaps between content chunks (p50, p99), the time to the whole
answer and what the faults cost on top of the fault-free baseline's. Pure functions of (plan,
history) like the checks, but figures, not verdicts: they never fail a scenario. A figure with
nothing to measure is absent, and says why. Percentiles are read from histograms that merge across
runs (harness/histograms.py)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from harness.checks.views import ClientView, client_views, content_events, terminal_event
from harness.histograms import Histogram
from harness.history import History
from harness.plan import Plan
from harness.profile import TargetProfile

# key: label (every figure is in milliseconds)
LABELS = {
    "first_content_p50_ms": "time to first content p50 ms",
    "first_content_p99_ms": "time to first content p99 ms",
    "gap_p50_ms": "gap between content chunks p50 ms",
    "gap_p99_ms": "gap between content chunks p99 ms",
    "whole_answer_p50_ms": "time to the whole answer p50 ms",
    "baseline_first_content_ms": "baseline's time to first content ms",
    "baseline_whole_answer_ms": "baseline's time to the whole answer ms",
    "extra_ms": "extra time faults cost ms",
}


@dataclass(frozen=True)
class AnswerTimes:
    """One client's answer in seconds from its first request; None when it never came."""

    first_content: float | None
    whole: float | None
    gaps: list[float]


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # a figure's key: why it is absent
    histograms: dict[str, Histogram] = field(default_factory=dict)  # the timings the percentiles come from

    def set(self, key: str, seconds: float) -> None:
        self.values[key] = round(seconds * 1000, 1)

    def lack(self, keys: tuple[str, ...], why: str) -> None:
        self.absent |= dict.fromkeys(keys, why)

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "absent": self.absent}

    def lines(self) -> list[str]:
        shown = [f"{LABELS[key]}: {value:g}" for key, value in self.values.items()]
        return shown + [f"{LABELS[key]}: absent ({why})" for key, why in self.absent.items()]


def answer_times(client: ClientView, profile: TargetProfile, history: History) -> AnswerTimes:
    if not client.connections:
        return AnswerTimes(None, None, [])
    asked = client.connections[0].started
    arrived = [history.seconds(event) - asked for event in content_events(client.events, profile)]
    terminal = terminal_event(client, profile)
    whole = history.seconds(terminal) - asked if terminal is not None else None
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrived)]
    return AnswerTimes(arrived[0] if arrived else None, whole, gaps)


def latency_figures(plan: Plan, history: History) -> Figures:
    """The figures of the history's clients under the plan's faults."""
    times = [answer_times(client, plan.profile, history) for client in client_views(history)]
    figures = Figures()
    firsts = [time.first_content for time in times if time.first_content is not None]
    _percentiles(figures, Histogram.of("first_content", firsts), "first_content", "no client received any content")
    gaps = [gap for time in times for gap in time.gaps]
    _percentiles(figures, Histogram.of("content_gap", gaps), "gap", "no client received two content chunks")
    wholes = Histogram.of("whole_answer", (time.whole for time in times if time.whole is not None))
    if plan.profile.endless:
        figures.lack(("whole_answer_p50_ms", "extra_ms"), "an endless feed has no whole answer")
    elif not wholes.count:
        figures.lack(("whole_answer_p50_ms", "extra_ms"), "no client received the whole answer")
    else:
        figures.histograms[wholes.name] = wholes
        figures.set("whole_answer_p50_ms", wholes.percentile(50))
    _baseline(figures, history, wholes)
    return figures


def _percentiles(figures: Figures, samples: Histogram, name: str, why: str) -> None:
    if not samples.count:
        figures.lack((f"{name}_p50_ms", f"{name}_p99_ms"), why)
        return
    figures.histograms[samples.name] = samples
    for percent in (50, 99):
        figures.set(f"{name}_p{percent}_ms", samples.percentile(percent))


def _baseline(figures: Figures, history: History, wholes: Histogram) -> None:
    baseline = history.baseline
    keys = ("baseline_first_content_ms", "baseline_whole_answer_ms")
    if baseline is None or baseline.whole_s is None or baseline.first_content_s is None:
        why = "no fault-free baseline was timed"
        if baseline is not None:
            why = baseline.failure or f"{why}: it is fetched where answers are compared (deterministic, answer text)"
        figures.lack(keys, why)
        if wholes.count:
            figures.lack(("extra_ms",), why)
        return
    figures.set(keys[0], baseline.first_content_s)
    figures.set(keys[1], baseline.whole_s)
    if wholes.count:
        figures.set("extra_ms", wholes.percentile(50) - baseline.whole_s)
