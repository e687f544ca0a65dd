"""Bytes on the wire: SSE framing of the events in docs/protocol.md."""

from __future__ import annotations

import json
from typing import Any

# One encoder for every event: json.dumps with these options builds a new one each call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_event(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One SSE event: optional id line, event line, one data line of compact JSON."""
    payload = _JSON.encode(data)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {payload}\n\n".encode()


def encode_retry(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def event_id(stream_id: str, seq: int) -> str:
    return f"{stream_id}:{seq}"
