"""The link is down: the proxy stops accepting connections and drops the open ones."""

from __future__ import annotations

from harness.faults.base import Fault
from harness.toxiproxy.api import ToxiproxyAPI


class Down(Fault):
    kind = "down"

    async def apply(self, api: ToxiproxyAPI, proxy: str, name: str) -> None:
        await api.set_enabled(proxy, False)

    async def undo(self, api: ToxiproxyAPI, proxy: str, name: str) -> None:
        await api.set_enabled(proxy, True)
