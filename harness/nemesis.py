"""The nemesis: plays a plan's fault timeline on one proxy, on a monotonic clock, while the
clients run, and records each fault as it goes in and comes out, with the slack it grants."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from harness.history import NEMESIS, FaultNote, History, Kind
from harness.plan import PlannedFault, steps
from harness.toxiproxy import ToxiproxyAPI

_CONCURRENT_API_CALLS = 16


class Nemesis:
    def __init__(self, api: ToxiproxyAPI, history: History, proxy: str, timeline: tuple[PlannedFault, ...]) -> None:
        self.api = api
        self.history = history
        self.proxy = proxy
        self.timeline = timeline
        self._active: set[str] = set()
        self._api_slots = asyncio.Semaphore(_CONCURRENT_API_CALLS)

    async def alongside(
        self, clients: Coroutine[Any, Any, None], ready: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Run the clients under the timeline, its clock started once `ready()` returns (faults
        at 0 s go in before the clients start); a failed fault ends the run; always heal."""
        await self.apply_initial()
        work = asyncio.create_task(clients)
        timeline = asyncio.create_task(self._play_when(ready))
        try:
            pending: set[asyncio.Task[None]] = {work, timeline}
            while work in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if timeline in done and (error := timeline.exception()) is not None:
                    raise error
            work.result()
        finally:
            for task in (work, timeline):
                task.cancel()
            await asyncio.gather(work, timeline, return_exceptions=True)
            await self.heal()

    async def _play_when(self, ready: Callable[[], Awaitable[None]] | None) -> None:
        if ready is not None:
            await ready()
        await self.run(asyncio.get_running_loop().time())

    async def apply_initial(self) -> None:
        """Faults at time 0 go in before any client connects."""
        await asyncio.gather(*(self._bounded(self._apply(f)) for f in self.timeline if f.at == 0))

    async def run(self, started_at: float) -> None:
        """Play the rest of the timeline; `started_at` is the loop time the timeline starts at.
        Steps due at the same instant go out together."""
        loop = asyncio.get_running_loop()
        for step in steps(self.timeline):
            await asyncio.sleep(max(0.0, started_at + step.at - loop.time()))
            await self._bounded(self._apply(step.fault) if step.applies else self._undo(step.fault))

    async def _bounded(self, call: Awaitable[None]) -> None:
        async with self._api_slots:
            await call

    async def heal(self) -> None:
        """Undo whatever is still applied (every path out of a scenario calls this)."""
        for planned in self.timeline:
            with contextlib.suppress(Exception):
                await self._undo(planned)

    async def _apply(self, planned: PlannedFault) -> None:
        await planned.fault.apply(self.api, self.proxy, planned.fault_id)
        self._active.add(planned.fault_id)
        self._record(Kind.FAULT_START, planned)

    async def _undo(self, planned: PlannedFault) -> None:
        if planned.fault_id not in self._active:
            return
        self._active.discard(planned.fault_id)
        await planned.fault.undo(self.api, self.proxy, planned.fault_id)
        self._record(Kind.FAULT_END, planned)

    def _record(self, kind: Kind, planned: PlannedFault) -> None:
        fault = planned.fault
        note = FaultNote(action=fault.kind, description=fault.describe(), proxy=self.proxy, slack=fault.slack())
        self.history.add(NEMESIS, kind, event_id=planned.fault_id, detail=note.model_dump_json())
