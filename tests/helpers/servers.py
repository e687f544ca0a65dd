"""The reference server's timings for tests, and the type of the fixture that starts one."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from harness.embedded import EmbeddedServer

TEST_TIMING: dict[str, float | int] = {
    "heartbeat_interval": 0.2,
    "silence_threshold": 0.6,
    "stream_max_seconds": 4.0,
    "chunk_delay_ms": 10.0,
    "stream_resume_ttl": 5.0,
    "retry_ms": 20,
}

ServerFactory = Callable[..., AbstractAsyncContextManager[EmbeddedServer]]
