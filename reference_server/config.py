"""Server configuration read from the environment and validated at start-up."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from reference_server.defects import CORRECT, DEFECTS, Behaviour, Defect

MEMORY_STORE = "memory"
_REDIS_URL = re.compile(r"redis://(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})/(?P<db>[0-9]{1,2})")
_USER_INFO = re.compile(r"(?<=//)[^/]*@")
_TEXT_FIELDS = ("defect", "replay_store", "instance_id")


class ConfigError(ValueError):
    """A configuration value is missing its meaning; the message names the variable."""


@dataclass(frozen=True)
class ServerConfig:
    """Every knob of the reference server. Field names map to upper-case env variables."""

    stream_max_seconds: float = 60.0
    heartbeat_interval: float = 5.0
    silence_threshold: float = 15.0
    chunk_delay_ms: float = 50.0
    stream_resume_ttl: float = 30.0
    retry_ms: int = 1000
    max_query_chars: int = 2000
    max_streams: int = 10_000
    max_streams_per_user: int = 16
    replay_buffer_events: int = 4096
    drain_seconds: float = 5.0
    send_timeout: float = 30.0  # a send blocked this long means the client stopped reading: drop it
    send_buffer_bytes: int = 65536  # kernel send buffer per connection: what a slow reader can pin
    replay_store: str = MEMORY_STORE  # or redis://HOST:PORT/DB, shared by every instance (store/)
    stream_lease_seconds: float = 2.0  # a lead that stops renewing is taken over this long after
    store_timeout: float = 1.0  # bound on every call to a shared store
    defect: Defect | None = None  # seeded on purpose, for `sse-chaos selftest` (defects.py)
    # which process answered: `X-Instance-ID` on every response, so that a fault can name the instance serving a client
    instance_id: str = field(default_factory=lambda: str(os.getpid()))

    @property
    def behaviour(self) -> Behaviour:
        return CORRECT if self.defect is None else self.defect.behaviour

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServerConfig:
        values: dict[str, float | int | str | Defect] = {}
        for known in fields(cls):
            raw = environ.get(known.name.upper())
            if raw is not None and known.name not in _TEXT_FIELDS:
                values[known.name] = _parse_positive(known.name.upper(), raw, known.type == "int")
        if environ.get("DEFECT"):
            values["defect"] = _defect(environ["DEFECT"])
        if environ.get("REPLAY_STORE"):
            values["replay_store"] = _replay_store(environ["REPLAY_STORE"])
        if "INSTANCE_ID" in environ:
            values["instance_id"] = _instance_id(environ["INSTANCE_ID"])
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        if self.silence_threshold <= self.heartbeat_interval:
            raise ConfigError(
                f"SILENCE_THRESHOLD ({self.silence_threshold}) must exceed "
                f"HEARTBEAT_INTERVAL ({self.heartbeat_interval})"
            )


FAST_TIMING = {
    "stream_max_seconds": 6.0,
    "heartbeat_interval": 0.25,
    "silence_threshold": 1.0,
    "chunk_delay_ms": 20.0,
    "stream_resume_ttl": 10.0,
    "retry_ms": 50,
    "send_timeout": 5.0,
    "stream_lease_seconds": 0.5,
}
"""Sub-second timings used by the harness's fast profile and by tests."""


_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _instance_id(raw: str) -> str:
    if not _INSTANCE_ID.fullmatch(raw):
        raise ConfigError(f"INSTANCE_ID must be 1-64 of A-Z a-z 0-9 . _ -, got {raw[:40]!r}")
    return raw


def _defect(name: str) -> Defect:
    if name not in DEFECTS:
        raise ConfigError(f"DEFECT {name[:40]!r} is not a seeded defect (known: {', '.join(DEFECTS)})")
    return DEFECTS[name]


def _replay_store(url: str) -> str:
    match = _REDIS_URL.fullmatch(url)
    if url == MEMORY_STORE or (match and 0 < int(match["port"]) < 65536 and int(match["db"]) < 16):
        return url
    shown = _USER_INFO.sub("***@", url)[:80]  # a password in the URL is never echoed
    raise ConfigError(f"REPLAY_STORE must be 'memory' or redis://HOST:PORT/DB, got {shown!r}")


def _parse_positive(name: str, raw: str, integer: bool) -> float | int:
    try:
        value: float | int = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{name} must be {kind}, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be positive and finite, got {raw[:40]!r}")
    return value
