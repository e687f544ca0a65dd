"""The nemesis: applies a scenario's fault timeline to proxies on a monotonic clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from harness.history import NEMESIS, History, Kind
from harness.toxiproxy import ToxicSpec, ToxiproxyAPI, make_toxic

_CONCURRENT_API_CALLS = 16


@dataclass(frozen=True)
class TimedFault:
    """One fault on one proxy, resolved to seconds from the scenario start."""

    fault_id: str
    proxy: str
    action: str
    at: float
    until: float | None
    attributes: dict[str, int]
    stream: str = "downstream"
    toxicity: float = 1.0

    def describe(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "attributes": self.attributes,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "proxy": self.proxy,
            "at": self.at,
            "until": self.until,
        }

    def toxic(self) -> ToxicSpec:
        toxic = make_toxic(self.action, self.attributes)
        return ToxicSpec(name=self.fault_id, toxic=toxic, stream=self.stream, toxicity=self.toxicity)  # type: ignore[arg-type]


class Nemesis:
    def __init__(self, api: ToxiproxyAPI, history: History, faults: list[TimedFault]) -> None:
        self.api = api
        self.history = history
        self.faults = faults
        self._active: set[str] = set()
        self._api_slots = asyncio.Semaphore(_CONCURRENT_API_CALLS)

    async def apply_initial(self) -> None:
        """Faults at time 0 go in before any client connects."""
        await asyncio.gather(*(self._bounded(self._start(f)) for f in self.faults if f.at == 0))

    async def run(self, started_at: float) -> None:
        """Play the rest of the timeline; `started_at` is the loop time of the scenario start.

        Steps due at the same instant (one fault on many proxies) go out concurrently,
        removals before additions.
        """
        loop = asyncio.get_running_loop()
        steps: dict[tuple[float, int], list[TimedFault]] = {}
        for fault in self.faults:
            if fault.at > 0:
                steps.setdefault((fault.at, 1), []).append(fault)
            if fault.until is not None:
                steps.setdefault((fault.until, 0), []).append(fault)
        for (offset, is_start), faults in sorted(steps.items()):
            await asyncio.sleep(max(0.0, started_at + offset - loop.time()))
            step = self._start if is_start else self._end
            await asyncio.gather(*(self._bounded(step(fault)) for fault in faults))

    async def _bounded(self, call: Awaitable[None]) -> None:
        async with self._api_slots:
            await call

    async def heal(self) -> None:
        """Undo whatever is still applied (every path out of a scenario calls this)."""
        for fault in self.faults:
            if fault.fault_id in self._active:
                with contextlib.suppress(Exception):
                    await self._end(fault)

    async def _start(self, fault: TimedFault) -> None:
        if fault.action == "down":
            await self.api.set_enabled(fault.proxy, False)
        else:
            await self.api.add_toxic(fault.proxy, fault.toxic())
        self._active.add(fault.fault_id)
        self.history.add(NEMESIS, Kind.FAULT_START, event_id=fault.fault_id, detail=json.dumps(fault.describe()))

    async def _end(self, fault: TimedFault) -> None:
        if fault.fault_id not in self._active:
            return
        self._active.discard(fault.fault_id)
        if fault.action == "down":
            await self.api.set_enabled(fault.proxy, True)
        else:
            await self.api.remove_toxic(fault.proxy, fault.fault_id)
        self.history.add(NEMESIS, Kind.FAULT_END, event_id=fault.fault_id, detail=json.dumps(fault.describe()))
