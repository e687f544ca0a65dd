"""Replay stores: where logical streams live (base.py says what a store is)."""

from __future__ import annotations

from reference_server.config import MEMORY_STORE, ServerConfig
from reference_server.store.base import StreamStore
from reference_server.store.memory_store import MemoryStore
from reference_server.store.redis_store import RedisSettings, RedisStore


def open_store(config: ServerConfig) -> StreamStore:
    """The store REPLAY_STORE names (validated by config.py); a shared one connects on first use."""
    if config.replay_store == MEMORY_STORE:
        return MemoryStore(config.replay_buffer_events)
    settings = RedisSettings(
        url=config.replay_store,
        capacity=config.replay_buffer_events,
        resume_ttl=config.stream_resume_ttl,
        lease_seconds=config.stream_lease_seconds,
        timeout=config.store_timeout,
    )
    return RedisStore(settings)
