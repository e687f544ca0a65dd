"""When each scenario of a shard run starts, computable by every shard alone from T and the plans.

Scenarios run one at a time. Scenario k's fault timeline starts at its slot S_k: S_0 = T + the
margin (+ its baseline's lead), S_k+1 = S_k + scenario k's hard deadline + the margin (+ the
next scenario's baseline lead). The margin covers a scenario's end (its baseline, its checks)
and the next one's set-up (its proxies, its pages); a scenario whose faults act behind the proxy
fetches its baseline first, for up to its client deadline: its lead. A scenario played by worker
processes is let near its slot first (`approach`), starts its workers, then waits for the slot
itself (`open`). A shard that reaches a slot late makes that scenario an error saying by how much.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime

from harness.errors import ConfigurationError, EnvironmentProblem
from harness.history import History
from harness.plan import Plan
from harness.shards.clock import Anchor, ClockMeasurement, reference_now, wall_and_monotonic_ns
from harness.share import Share
from harness.untrusted import printable

SLOT_MARGIN_S = 5.0
LONGEST_WAIT_S = 86_400.0  # a T further ahead is a mistake
_UNIX_SECONDS = re.compile(r"\d{1,12}(\.\d{1,9})?")


def parse_start_at(text: str) -> float:
    """T in Unix seconds: ISO 8601 with a zone (2026-12-03T00:10:00Z), or Unix seconds; it must lie
    ahead, by at most a day, on this machine's clock."""
    text = text.strip()
    if _UNIX_SECONDS.fullmatch(text):
        start_at = float(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(
                f"--start-at is ISO 8601 with a zone or Unix seconds, not '{printable(text, 60)}'"
            ) from None
        if moment.tzinfo is None:
            raise ConfigurationError(f"--start-at '{printable(text, 60)}' has no zone (add Z or +00:00)")
        start_at = moment.timestamp()
    ahead = start_at - wall_and_monotonic_ns()[0] / 1e9
    if ahead < 0:
        raise ConfigurationError(f"--start-at is {-ahead:.1f} s in the past on this machine's clock")
    if ahead > LONGEST_WAIT_S:
        raise ConfigurationError(f"--start-at is {ahead / 3600:.1f} h ahead, more than a day")
    return start_at


def _baseline_lead(plan: Plan) -> float:
    return plan.clients.deadline if any(planned.fault.behind_the_proxy for planned in plan.faults) else 0.0


def slot_starts(start_at: float, plans: list[Plan]) -> dict[str, float]:
    """Each scenario's timeline start (reference Unix seconds), by scenario name."""
    starts: dict[str, float] = {}
    at = start_at
    for plan in plans:
        at += SLOT_MARGIN_S + _baseline_lead(plan)
        starts[plan.scenario] = at
        at += plan.hard_deadline
    return starts


@dataclass
class SlotKeeper:
    """The start gate of shard `share`: holds each scenario until its slot, then anchors its history
    there (`harness.runner.StartGate`)."""

    share: Share
    start_at: float
    clock: ClockMeasurement | None = None
    slots: dict[str, float] = field(default_factory=dict)

    def schedule(self, clock: ClockMeasurement, plans: list[Plan]) -> None:
        self.clock, self.slots = clock, slot_starts(self.start_at, plans)

    async def approach(self, plan: Plan, lead_seconds: float) -> None:
        """Sleep until `lead_seconds` before the scenario's slot on the corrected clock; return at
        once when it is nearer (or past: `open` says so)."""
        ahead = self._slot(plan) - lead_seconds - reference_now(self._measured())
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def open(self, plan: Plan, history: History) -> None:
        """Sleep until the scenario's slot on the corrected clock and anchor its history there; an
        error when the slot has passed."""
        slot, clock = self._slot(plan), self._measured()
        early = slot - reference_now(clock)
        if early < 0:
            raise EnvironmentProblem(
                f"shard {self.share} reached scenario {plan.scenario}'s slot {-early:.3f} s late"
                f" (T + {slot - self.start_at:.1f} s): the scenarios before it, the shard's start or its"
                " workers' start took longer"
            )
        await asyncio.sleep(early)
        wall, monotonic = wall_and_monotonic_ns()
        history.anchors = [
            Anchor(
                shard=str(self.share),
                start_at=self.start_at,
                slot_s=slot,
                wall_ns=wall,
                monotonic_ns=monotonic,
                clock=clock,
            )
        ]

    def _measured(self) -> ClockMeasurement:
        assert self.clock is not None, "schedule() comes first"
        return self.clock

    def _slot(self, plan: Plan) -> float:
        slot = self.slots.get(plan.scenario)
        if slot is None:
            raise EnvironmentProblem(f"shard {self.share}: scenario {plan.scenario} has no slot (it was not planned)")
        return slot
