"""A shard's wall clock against a reference every shard can reach: the HTTP `Date` header of
the target (or of `--clock-url`).

`Date` says the second the server answered in. Requests a few milliseconds apart find the
second's edge: the response before it was stamped before the edge, the one after at or after
it, so on this machine's clock the edge lies between the first request's sending and the second
response's arrival. Its midpoint gives the offset (the reference minus this clock), half its
width the uncertainty: a round trip plus the spacing. Several edges are taken; the tightest is
kept. A server that refreshes its `Date` late by a fixed phase shifts every shard's estimate
alike, which alignment cancels, as long as every shard reads the same server process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
from pydantic import BaseModel, ConfigDict

from harness.errors import EnvironmentProblem
from harness.untrusted import printable

MAX_UNCERTAINTY_S = 0.1  # a shard's; merge refuses more (fault windows would widen by twice that)
EDGES = 3  # second edges measured; the tightest is kept
SPACING_S = 0.005  # between requests near an edge
_AHEAD_OF_EDGE_S = 0.05  # how early the scan for the next edge starts
_REQUEST_TIMEOUT_S = 2.0
MEASURE_DEADLINE_S = 15.0
SOURCE = "http-date"


def wall_ns() -> int:
    """This machine's wall clock: every read of it in a shard goes through here (a test shifts it
    to play a machine whose clock is off)."""
    return time.time_ns()


class ClockSample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offset_s: float
    uncertainty_s: float


class ClockMeasurement(BaseModel):
    """How far this machine's wall clock is from the reference: reference = wall + offset_s,
    within ± uncertainty_s."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # "http-date URL"
    offset_s: float
    uncertainty_s: float
    samples: list[ClockSample]

    def reference_ns(self, wall: int) -> int:
        return wall + round(self.offset_s * 1e9)

    def describe(self) -> str:
        return (
            f"offset {self.offset_s * 1000:+.1f} ms ± {self.uncertainty_s * 1000:.1f} ms against {self.source}"
            f" ({len(self.samples)} samples)"
        )


def wall_and_monotonic_ns() -> tuple[int, int]:
    """This machine's wall clock and its monotonic clock, read together."""
    return wall_ns(), time.monotonic_ns()


def reference_now(clock: ClockMeasurement) -> float:
    """The reference's time now, in Unix seconds, as this machine's corrected clock reads it."""
    return clock.reference_ns(wall_ns()) / 1e9


def too_uncertain(clock: ClockMeasurement, who: str) -> str | None:
    """Why `who`'s clock cannot be aligned closely enough, or None."""
    if clock.uncertainty_s <= MAX_UNCERTAINTY_S:
        return None
    return (
        f"{who}'s clock offset is known only to ± {clock.uncertainty_s * 1000:.0f} ms, more than the"
        f" {MAX_UNCERTAINTY_S * 1000:.0f} ms bound (its clock reference is too far or too slow:"
        " give a nearer --clock-url)"
    )


@dataclass(frozen=True)
class Observation:
    """One request: sent and answered on this machine's wall clock (ns), and the second `Date` said."""

    sent_ns: int
    received_ns: int
    date_s: int


def edge_between(before: Observation, after: Observation) -> ClockSample | None:
    """The offset the edge between two consecutive answers shows, when `Date` moved by one second."""
    if after.date_s != before.date_s + 1:
        return None
    middle_ns = (before.sent_ns + after.received_ns) // 2
    return ClockSample(
        offset_s=(after.date_s * 1_000_000_000 - middle_ns) / 1e9,
        uncertainty_s=(after.received_ns - before.sent_ns) / 2e9,
    )


def measurement_of(source: str, samples: list[ClockSample]) -> ClockMeasurement:
    best = min(samples, key=lambda sample: sample.uncertainty_s)
    return ClockMeasurement(source=source, offset_s=best.offset_s, uncertainty_s=best.uncertainty_s, samples=samples)


async def measure(http: httpx.AsyncClient, url: str, edges: int = EDGES) -> ClockMeasurement:
    """The offset against `url`'s `Date` (HEAD requests, no credentials: any answer has a Date)."""
    wall0, monotonic0 = wall_and_monotonic_ns()

    def local() -> int:
        return wall0 + time.monotonic_ns() - monotonic0

    samples: list[ClockSample] = []
    try:
        async with asyncio.timeout(MEASURE_DEADLINE_S):
            previous = await _observe(http, url, local)
            while len(samples) < edges:
                await asyncio.sleep(SPACING_S)
                current = await _observe(http, url, local)
                sample = edge_between(previous, current)
                previous = current
                if sample is not None:
                    samples.append(sample)
                    # the next edge is a second later: sleep until just before it
                    await asyncio.sleep(max(0.0, 1.0 - _AHEAD_OF_EDGE_S - (local() - current.received_ns) / 1e9))
                    previous = await _observe(http, url, local)
    except TimeoutError:
        raise EnvironmentProblem(
            f"could not measure the clock against {printable(url)} within {MEASURE_DEADLINE_S:g} s"
            f" ({len(samples)} of {edges} second edges found)"
        ) from None
    return measurement_of(f"{SOURCE} {url}", samples)


async def _observe(http: httpx.AsyncClient, url: str, local: Callable[[], int]) -> Observation:
    sent = local()
    try:
        response = await http.head(url, timeout=_REQUEST_TIMEOUT_S)
    except httpx.HTTPError as error:
        said = printable(str(error))
        raise EnvironmentProblem(f"the clock reference {printable(url)} did not answer: {said}") from None
    received = local()
    said = response.headers.get("date")
    try:
        date_s = int(parsedate_to_datetime(said).timestamp()) if said else None
    except (TypeError, ValueError):
        date_s = None
    if date_s is None:
        raise EnvironmentProblem(f"the clock reference {printable(url)} sent no readable Date header")
    return Observation(sent, received, date_s)


class Anchor(BaseModel):
    """Where one shard's history clock (its own monotonic clock) sits on the reference timeline:
    its wall clock and its monotonic clock, read together when the scenario's timeline started."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: str  # "I/N"
    start_at: float  # T, the common start, Unix seconds on the reference clock
    slot_s: float  # this scenario's timeline start, Unix seconds on the reference clock
    wall_ns: int
    monotonic_ns: int
    clock: ClockMeasurement

    def aligned_ns(self, monotonic_ns: int) -> int:
        """A time of this shard's history clock on the reference clock (Unix ns)."""
        return self.clock.reference_ns(self.wall_ns) + monotonic_ns - self.monotonic_ns


def clock_widening(anchors: list[Anchor]) -> float:
    """How far apart two shards' aligned clocks may be: the sum of the two largest uncertainties
    (0 for one shard, whose records share one clock), never more than twice the bound."""
    if len({anchor.shard for anchor in anchors}) < 2:
        return 0.0
    largest = sorted((anchor.clock.uncertainty_s for anchor in anchors), reverse=True)[:2]
    return min(sum(largest), 2 * MAX_UNCERTAINTY_S)
