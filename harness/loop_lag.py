"""The harness's own event-loop lag, sampled into the history while a scenario plays: a
heartbeat stamped late because the loop was busy is the harness's fault, not the server's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from harness.history import HARNESS, History, Kind
from reference_server.collector import collect_if_overdue


@asynccontextmanager
async def loop_lag_sampled(history: History, period: float) -> AsyncIterator[None]:
    task = asyncio.create_task(_sample(history, period))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _sample(history: History, period: float) -> None:
    """Every `period`, how much later than due the loop woke; an overdue garbage collection (the
    collector is paused while clients stream) runs here, so its pause shows up as lag."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(period)
        collect_if_overdue()
        lag_us = int(max(0.0, loop.time() - before - period) * 1e6)
        history.add(HARNESS, Kind.LOOP_LAG, lag_us=lag_us)
