"""Blocking wrappers of the session's Toxiproxy for synchronous tests: a proxy and its faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.faults import make_fault
from harness.toxiproxy import Proxy, ToxiproxyAPI

Call = Callable[[Awaitable[Any]], Any]


@dataclass
class SyncProxy:
    """One Toxiproxy proxy with blocking controls; `url` is the target's URL at the proxy's
    address. For an https target (whose certificate names the target, not the proxy), send
    requests to the target's URL and `harness.transport.route_through(request, sse_proxy.proxy.address)`."""

    proxy: Proxy
    url: str
    _api: ToxiproxyAPI
    _call: Call

    def add(self, action: str, name: str | None = None, stream: str = "downstream", **attributes: int) -> str:
        """Add a toxic (a kind of `harness.faults`, Toxiproxy's attribute names); returns its name."""
        if action == "down":
            raise ValueError("the link goes down with .down() and back with .up()")
        fault_name = name or f"{action}-{stream}"
        fault = make_fault(action, {"stream": stream, **attributes})
        self._call(fault.apply(self._api, self.proxy.name, fault_name))
        return fault_name

    def remove(self, name: str) -> None:
        self._call(self._api.remove_toxic(self.proxy.name, name))

    def down(self) -> None:
        self._call(self._api.set_enabled(self.proxy.name, False))

    def up(self) -> None:
        self._call(self._api.set_enabled(self.proxy.name, True))


@dataclass
class SyncToxiproxy:
    """The session's Toxiproxy: `.url` and proxies to any upstream."""

    api: ToxiproxyAPI
    call: Call

    @property
    def url(self) -> str:
        return self.api.base_url

    def proxy(self, name: str, upstream: str) -> Proxy:
        return self.call(self.api.create_proxy(name, upstream))

    def delete(self, name: str) -> None:
        self.call(self.api.delete_proxy(name))
