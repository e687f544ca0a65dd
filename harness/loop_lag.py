"""The harness's own event-loop lag, sampled into the history while a scenario plays: a
heartbeat stamped late because the loop was busy is the harness's fault, not the server's. With
each sample, how long the processes that carry streams on this machine waited for a CPU
(harness/cpu_wait.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from harness.cpu_wait import CpuWaits, available
from harness.history import HARNESS, History, Kind
from reference_server.collector import collect_if_overdue

_WORTH_RECORDING_US = 1000  # a wait under a millisecond changes no verdict


@asynccontextmanager
async def loop_lag_sampled(history: History, period: float, loop: str = "") -> AsyncIterator[None]:
    """Sample this process's loop while the block runs. `loop` names a worker process's loop
    (`harness_loop`); only the harness's own ("") samples the CPU waits, which are the machine's:
    every worker sampling them too would record each wait once per process."""
    task = asyncio.create_task(_sample(history, period, loop))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _sample(history: History, period: float, name: str) -> None:
    """Every `period`, how much later than due the loop woke; an overdue garbage collection (the
    collector is paused while clients stream) runs here, so its pause shows up as lag."""
    loop = asyncio.get_running_loop()
    waits = CpuWaits() if available() and not name else None
    while True:
        before = loop.time()
        await asyncio.sleep(period)
        collect_if_overdue()
        lag_us = int(max(0.0, loop.time() - before - period) * 1e6)
        history.add(HARNESS, Kind.LOOP_LAG, event=name, lag_us=lag_us)
        if waits is not None:
            for role, waited_us in waits.sample(loop.time()).items():
                if waited_us >= _WORTH_RECORDING_US:
                    history.add(HARNESS, Kind.CPU_WAIT, event=role, lag_us=waited_us)
