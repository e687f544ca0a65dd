"""Trace ids: accept a caller's id only when it is well formed, never echo anything else."""

from __future__ import annotations

import re
import secrets

_TRACE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_MAX_HEADER_CHARS = 512


def new_trace_id() -> str:
    return secrets.token_hex(16)


def trace_id_from_headers(x_trace_id: str | None, traceparent: str | None) -> str:
    """The caller's trace id when valid (X-Trace-ID first, then traceparent), else a new one."""
    if x_trace_id is not None and _TRACE_ID.fullmatch(x_trace_id):
        return x_trace_id
    if traceparent is not None and len(traceparent) <= _MAX_HEADER_CHARS:
        match = _TRACEPARENT.fullmatch(traceparent.strip())
        if match and set(match[1]) != {"0"} and set(match[2]) != {"0"}:
            return match[1]
    return new_trace_id()
