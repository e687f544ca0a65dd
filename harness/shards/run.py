"""A shard's session: the usual one, whose clock is measured and whose scenarios are planned and
given their slots before the first of them starts; shard.json says so in the report directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.scenario import Scenario
from harness.session import SessionRunner, SessionSettings, session
from harness.shards.clock import measure, too_uncertain
from harness.shards.manifest import ShardManifest, write_manifest
from harness.shards.slots import SlotKeeper


@asynccontextmanager
async def shard_session(
    settings: SessionSettings, keeper: SlotKeeper, scenarios: list[Scenario], clock_url: str | None, report_dir: Path
) -> AsyncIterator[SessionRunner]:
    """`settings` carry the keeper's share and gate; the clock is measured against `clock_url`
    (default: the target's URL)."""
    async with session(settings) as opened:
        runner = opened.runner
        clock = await measure(runner.http, clock_url or runner.target.url)
        if (why := too_uncertain(clock, f"shard {keeper.share}")) is not None:
            raise EnvironmentProblem(why)
        keeper.schedule(clock, [await runner.plan(scenario) for scenario in scenarios])
        manifest = ShardManifest(shard=str(keeper.share), start_at=keeper.start_at, clock=clock, slots=keeper.slots)
        write_manifest(report_dir, manifest)
        yield opened
