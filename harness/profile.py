"""Target profiles: how to read a server, the reference contract being the default."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.catalogue import PROFILES_DIR
from harness.errors import load_toml_model


class TargetProfile(BaseModel):
    """What a target speaks. A check the target cannot support is reported not applicable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "robust-stream"
    description: str = "The robust stream of docs/protocol.md (the reference server)."
    heartbeat: Literal["event", "comment", "none"] = "event"
    heartbeat_event: str = "heartbeat"
    content_event: str = "content_chunk"
    terminal_events: tuple[str, ...] = ("complete",)
    error_event: str = "error"
    payload: Literal["protocol", "opaque"] = Field(
        "protocol", description="'protocol': data is docs/protocol.md's JSON (seq, trace_id, content_sha256)"
    )
    resume: bool = True
    trace_header: str | None = "X-Trace-ID"
    interval_header: str | None = "X-Heartbeat-Interval"
    silence_header: str | None = "X-Silence-Threshold"
    cap_header: str | None = "X-Stream-Max-Seconds"
    required_headers: tuple[str, ...] = (
        "Cache-Control",
        "X-Accel-Buffering",
        "X-Trace-ID",
        "X-Stream-ID",
        "X-Stream-Max-Seconds",
        "X-Heartbeat-Interval",
        "X-Silence-Threshold",
    )
    heartbeat_interval: float | None = Field(None, gt=0, description="declared when no header advertises it")
    silence_threshold: float | None = Field(None, gt=0)
    stream_max_seconds: float | None = Field(None, gt=0)


DEFAULT_PROFILE = TargetProfile()


def load_profile(name_or_path: str | None) -> TargetProfile:
    if name_or_path is None or name_or_path == DEFAULT_PROFILE.name:
        return DEFAULT_PROFILE
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.toml"
    return load_toml_model(path, TargetProfile, "profile")
