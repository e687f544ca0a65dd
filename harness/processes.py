"""Child processes the harness starts: always stopped, politely first."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_process(process: asyncio.subprocess.Process, grace_seconds: float = 5.0) -> None:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL. Safe to call on an exited process."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
