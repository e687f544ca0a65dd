from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio

from harness.deploy.redis import redis_server
from harness.embedded import EmbeddedServer, embedded_server
from harness.toxiproxy import ToxiproxyAPI, ToxiproxyError, find_binary, toxiproxy
from tests.helpers.redis import require_redis
from tests.helpers.servers import TEST_TIMING, ServerFactory
from tests.helpers.toxiproxy import require_toxiproxy

pytest_plugins = ["pytester"]


@pytest.fixture
def start_server(tmp_path: Path) -> ServerFactory:
    """Start a reference server with test timings plus overrides; stopped on leaving the block."""

    def start(**overrides: float | int) -> AbstractAsyncContextManager[EmbeddedServer]:
        return embedded_server(TEST_TIMING | overrides, tmp_path / "server.log")

    return start


@pytest_asyncio.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedServer]:
    """One shared reference server with test timings, for tests that do not change its config."""
    async with embedded_server(TEST_TIMING, tmp_path_factory.mktemp("server") / "server.log") as running:
        yield running


# --- a real Toxiproxy for the fault and nemesis tests -------------------------------------------

_proxy_numbers = itertools.count()


@pytest.fixture(scope="session")
def toxiproxy_server() -> Path:
    """The binary the suite found, before any test moved HOME (pytester does, and with it the user cache)."""
    require_toxiproxy()
    return find_binary()


@pytest_asyncio.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ToxiproxyAPI]:
    """A Toxiproxy server of the test module's own, stopped after it."""
    require_toxiproxy()
    async with toxiproxy(tmp_path_factory.mktemp("toxiproxy")) as running:
        yield running


@pytest_asyncio.fixture
async def proxy(api: ToxiproxyAPI) -> AsyncIterator[str]:
    """A fresh proxy to a closed port (no traffic is sent), deleted afterwards."""
    name = f"proxy-{next(_proxy_numbers)}"
    await api.create_proxy(name, "127.0.0.1:9")
    try:
        yield name
    finally:
        with contextlib.suppress(ToxiproxyError):
            await api.delete_proxy(name)


@pytest_asyncio.fixture(scope="module")
async def redis_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A real redis-server of the test module's own (`redis://127.0.0.1:PORT/0`), stopped after it."""
    require_redis()
    async with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
