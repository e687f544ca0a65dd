from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio

from harness.embedded import EmbeddedServer, embedded_server
from tests.helpers.servers import TEST_TIMING, ServerFactory

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
