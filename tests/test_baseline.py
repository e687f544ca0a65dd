"""The baseline: fetched once per request, and never waited for past the asking scenario's deadline."""

from __future__ import annotations

import asyncio

import pytest

from harness.baseline import Baselines
from harness.profile import DEFAULT_PROFILE
from harness.request import Request
from harness.target import Target
from harness.transport import new_http_client
from tests.helpers.hostile_servers import hostile_server


@pytest.mark.asyncio
async def test_a_scenario_waits_for_a_shared_baseline_no_longer_than_its_own_deadline() -> None:
    async with hostile_server("trickle") as url, new_http_client() as http:
        baselines = Baselines(Target(url, DEFAULT_PROFILE), http)
        request = Request(url=url, params={"query": "q"})
        first = asyncio.ensure_future(baselines.get(request, deadline=30))  # a long scenario asks first
        second = await baselines.get(request, deadline=0.3)
        assert second.failure == "not fetched within this scenario's deadline of 0.3 s"
        assert not first.done()  # the long scenario's wait goes on
    assert (await first).failure is not None  # until the server is gone
