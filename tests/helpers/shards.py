"""Shards' report directories built by hand, on monotonic clocks of their own, for merge's tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from harness.history import harness_loop
from harness.report import write_history
from harness.results import ScenarioRun
from harness.shards.clock import Anchor, ClockMeasurement, ClockSample, measurement_of
from harness.shards.manifest import ShardManifest, write_manifest
from tests.helpers.histories import HistoryBuilder

SECOND = 1_000_000_000
SLOT = 1000.0  # the scenario's slot, reference Unix seconds
START_AT = 995.0


def measured(offset: float = 0.0, uncertainty: float = 0.002) -> ClockMeasurement:
    return measurement_of("http-date test", [ClockSample(offset_s=offset, uncertainty_s=uncertainty)])


def steady(builder: HistoryBuilder) -> None:
    """A client answered at 0 s with heartbeats every 0.25 s, done at 1 s."""
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(0.25, 0.5, 0.75, 1.0)
    builder.complete(1.0)


def shard_dir(
    root: Path,
    index: int,
    of: int = 2,
    *,
    offset: float = 0.0,
    uncertainty: float = 0.002,
    start_at: float = START_AT,
    stream: Callable[[HistoryBuilder], None] = steady,
    worker: str = "",
) -> Path:
    """Shard `index` of `of`: client c000I's `stream`, seconds after its slot, stamped on a monotonic
    clock of its own whose wall clock is `offset` s behind the reference; by the shard's worker
    process `worker` ("worker1"), when given."""
    builder = HistoryBuilder(chunks=1, client=f"c{index:04d}")
    stream(builder)
    history = builder.ordered()
    assert history.plan is not None
    clients = history.plan.clients.model_copy(update={"count": of})  # one client for each shard
    history.plan = history.plan.model_copy(update={"clients": clients})
    if worker:
        history.loops = {builder.client: harness_loop(worker)}
    origin = (index + 3) * 7 * SECOND
    history.records = [dataclasses.replace(record, t_ns=record.t_ns + origin) for record in history.records]
    history.epoch_ns = origin
    clock = measured(offset, uncertainty)
    wall = round((SLOT - offset) * SECOND)
    shard = f"{index}/{of}"
    history.anchors = [
        Anchor(shard=shard, start_at=start_at, slot_s=SLOT, wall_ns=wall, monotonic_ns=origin, clock=clock)
    ]
    directory = root / f"shard-{index}-of-{of}"
    write_history(directory, ScenarioRun("built", "built by hand", history))
    write_manifest(directory, ShardManifest(shard=shard, start_at=start_at, clock=clock, slots={"built": SLOT}))
    return directory
