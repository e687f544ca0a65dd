"""A small typed async client for Toxiproxy's HTTP API, with a deadline on every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.errors import EnvironmentProblem

# Toxiproxy answers 503 after 25 s while still holding its lock: stay well below that.
API_TIMEOUT_SECONDS = 10.0


class ToxiproxyError(EnvironmentProblem):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"toxiproxy answered {status}: {message}")
        self.status = status
        self.message = message


class ToxiproxyUnavailable(ToxiproxyError):
    """503 or no answer: the server is wedged or gone and must be restarted."""


@dataclass(frozen=True)
class ToxicSpec:
    """A toxic as the API takes it: its name on the proxy, type, attributes, direction, toxicity."""

    name: str
    type: str
    attributes: dict[str, Any]
    stream: str = "downstream"
    toxicity: float = 1.0

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) where the proxy listens."""
        host, port = self.listen.rsplit(":", 1)
        return host.strip("[]"), int(port)

    @property
    def port(self) -> int:
        return self.address[1]


class ToxiproxyAPI:
    """`restarter`, when the harness owns the server, restarts it and returns its new URL."""

    def __init__(
        self,
        base_url: str,
        timeout: float = API_TIMEOUT_SECONDS,
        restarter: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._timeout = timeout
        self._restarter = restarter
        self._connect(base_url)

    def _connect(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self._timeout,
            trust_env=False,
            headers={"User-Agent": "sse-chaos"},  # a Mozilla/ agent gets 403
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def restart(self) -> None:
        """After a ToxiproxyUnavailable: a fresh server (all proxies are gone), or an error."""
        if self._restarter is None:
            raise EnvironmentProblem(f"toxiproxy at {self.base_url} is unavailable and is not ours to restart")
        await self._http.aclose()
        self._connect(await self._restarter())

    async def version(self) -> str:
        return (await self._call("GET", "/version")).text.strip()

    async def proxy(self, name: str) -> Proxy:
        return _proxy((await self._call("GET", f"/proxies/{name}")).json())

    async def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return _proxy((await self._call("POST", "/proxies", json=body)).json())

    async def delete_proxy(self, name: str) -> None:
        await self._call("DELETE", f"/proxies/{name}")

    async def set_enabled(self, name: str, enabled: bool) -> Proxy:
        return _proxy((await self._call("PATCH", f"/proxies/{name}", json={"enabled": enabled})).json())

    async def add_toxic(self, proxy: str, spec: ToxicSpec) -> dict[str, Any]:
        return (await self._call("POST", f"/proxies/{proxy}/toxics", json=spec.to_api())).json()

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return (await self._call("GET", f"/proxies/{proxy}/toxics")).json()

    async def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.TimeoutException:
            raise ToxiproxyUnavailable(0, f"{method} {path} got no answer within the deadline") from None
        except httpx.TransportError as error:
            raise ToxiproxyUnavailable(0, f"{method} {path} failed: {type(error).__name__}") from None
        if response.status_code == 503:
            raise ToxiproxyUnavailable(503, _message(response))
        if response.status_code >= 400:
            raise ToxiproxyError(response.status_code, _message(response))
        return response


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))[:300]
    except ValueError:
        return response.text[:300]


def _proxy(payload: dict[str, Any]) -> Proxy:
    return Proxy(payload["name"], payload["listen"], payload["upstream"], payload["enabled"])
