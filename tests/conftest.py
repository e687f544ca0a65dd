from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio

from harness.embedded import EmbeddedServer, embedded_server

pytest_plugins = ["pytester"]

TEST_TIMING: dict[str, float | int] = {
    "heartbeat_interval": 0.2,
    "silence_threshold": 0.6,
    "stream_max_seconds": 4.0,
    "chunk_delay_ms": 10.0,
    "stream_resume_ttl": 5.0,
    "retry_ms": 20,
}

ServerFactory = Callable[..., AbstractAsyncContextManager[EmbeddedServer]]


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
