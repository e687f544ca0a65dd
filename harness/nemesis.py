"""The nemesis: plays a plan's fault timeline on one proxy (and the deployment behind it), on a
monotonic clock, while the clients run, and records each fault as it goes in and comes out, with
the slack it grants. It heals on every path: no toxic stays on, no instance stays stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any

from harness.deploy.base import Deployment
from harness.errors import EnvironmentProblem
from harness.faults import FaultNote, Stage
from harness.history import NEMESIS, History, Kind
from harness.plan import PlannedFault, steps
from harness.toxiproxy import ToxiproxyAPI, ToxiproxyError, ToxiproxyUnavailable

_CONCURRENT_API_CALLS = 16


class Nemesis:
    def __init__(
        self,
        api: ToxiproxyAPI,
        history: History,
        proxy: str,
        timeline: tuple[PlannedFault, ...],
        deployment: Deployment | None = None,
    ) -> None:
        self.history = history
        self.proxy = proxy
        self.timeline = timeline
        self.stage = Stage(api, proxy, history, self._said, deployment)
        self._active: set[str] = set()
        self._api_slots = asyncio.Semaphore(_CONCURRENT_API_CALLS)

    async def alongside(
        self, clients: Coroutine[Any, Any, None], ready: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Run the clients under the timeline, its clock started once `ready()` returns (faults
        at 0 s go in before the clients start); a failed fault ends the run; always heal."""
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.apply_initial()
            work = asyncio.create_task(clients)
            timeline = asyncio.create_task(self._play_when(ready))
            tasks = [work, timeline]
            pending: set[asyncio.Task[None]] = {work, timeline}
            while work in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if timeline in done and (error := timeline.exception()) is not None:
                    raise error
            work.result()
        finally:
            if not tasks:  # an initial fault failed: the clients never started
                clients.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            unhealed = await self.heal()
        if unhealed:  # reached only when the run itself ended well: its own error comes first
            raise EnvironmentProblem(f"the nemesis {unhealed[0]}")

    async def _play_when(self, ready: Callable[[], Awaitable[None]] | None) -> None:
        if ready is not None:
            await ready()
        await self.run(asyncio.get_running_loop().time())

    async def apply_initial(self) -> None:
        """Faults at time 0 go in before any client connects, side by side; when one fails, the
        others have finished going in (or failed) before its error is raised, so heal finds them."""
        initial = [self._bounded(self._apply(f)) for f in self.timeline if f.at == 0]
        for outcome in await asyncio.gather(*initial, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def run(self, started_at: float) -> None:
        """Play the rest of the timeline; `started_at` is the loop time the timeline starts at.
        Steps due at one instant go out one after another, removals first."""
        loop = asyncio.get_running_loop()
        for step in steps(self.timeline):
            await asyncio.sleep(max(0.0, started_at + step.at - loop.time()))
            await self._bounded(self._apply(step.fault) if step.applies else self._undo(step.fault))

    async def _bounded(self, call: Awaitable[None]) -> None:
        async with self._api_slots:
            await call

    async def heal(self) -> list[str]:
        """Undo whatever may still be applied (every path out of a scenario calls this). Each fault
        that cannot be undone is recorded as the nemesis's error and returned."""
        unhealed = []
        for planned in self.timeline:
            try:
                await self._undo(planned, gone_is_undone=True)
            except Exception as error:
                unhealed.append(f"could not undo {planned.fault_id}: {error}"[:300])
                self.history.add(NEMESIS, Kind.ERROR, event_id=planned.fault_id, detail=unhealed[-1])
        return unhealed

    async def _apply(self, planned: PlannedFault) -> None:
        # Counted as applied before the call: a call cut short (cancelled, no answer) may still
        # have gone in, and heal must undo it. Only a fault Toxiproxy refused is surely not in.
        fault = planned.fault
        self._active.add(planned.fault_id)
        if fault.acts_while_applied:
            self._record(Kind.FAULT_START, planned)
        try:
            await fault.apply(self.stage, planned.fault_id)
        except ToxiproxyError as error:
            if not isinstance(error, ToxiproxyUnavailable):
                self._active.discard(planned.fault_id)
            raise
        if not fault.acts_while_applied:
            self._record(Kind.FAULT_START, planned)
        if fault.ends_with_apply:
            await self._undo(planned)

    async def _undo(self, planned: PlannedFault, gone_is_undone: bool = False) -> None:
        """`gone_is_undone`: while healing, a fault (or proxy) Toxiproxy no longer has is undone;
        during the timeline it is an error, since the clients would stream through nothing."""
        if planned.fault_id not in self._active:
            return
        try:
            await planned.fault.undo(self.stage, planned.fault_id)
        except ToxiproxyError as error:
            if not (gone_is_undone and error.status == HTTPStatus.NOT_FOUND):
                raise
        self._active.discard(planned.fault_id)
        self._record(Kind.FAULT_END, planned)

    def _said(self, fault_id: str, text: str) -> None:
        self.history.add(NEMESIS, Kind.COMMAND, event_id=fault_id, detail=text)

    def _record(self, kind: Kind, planned: PlannedFault) -> None:
        note = FaultNote.of(planned.fault, self.proxy)
        self.history.add(NEMESIS, kind, event_id=planned.fault_id, detail=note.model_dump_json())
