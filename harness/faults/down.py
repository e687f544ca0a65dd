"""The link is down: the proxy stops accepting connections and drops the open ones."""

from __future__ import annotations

from harness.faults.base import Fault, Stage


class Down(Fault):
    kind = "down"

    async def apply(self, stage: Stage, name: str) -> None:
        await stage.api.set_enabled(stage.proxy, False)

    async def undo(self, stage: Stage, name: str) -> None:
        await stage.api.set_enabled(stage.proxy, True)
