"""A `GET /stream/search` request, validated: its query parameters and its `Last-Event-ID`.

Anything malformed raises BadRequest with the error code of docs/protocol.md; the trace
headers are validated apart, in tracing.py, because a rejected request still gets a trace id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from reference_server.answer import AnswerRequest
from reference_server.config import ServerConfig

_USER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_LAST_EVENT_ID = re.compile(r"([0-9a-f]{16}):([0-9]{1,9})")
_MAX_LAST_EVENT_ID_CHARS = 64
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 120
DEFAULT_TEMPERATURE = 0.7


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamRequest:
    answer: AnswerRequest
    user_id: str | None


@dataclass(frozen=True)
class Resume:
    stream_id: str
    seq: int


def parse_stream_request(args: Mapping[str, str], config: ServerConfig) -> StreamRequest:
    get = args.get
    query = get("query", "")
    if not query.strip():
        raise BadRequest("bad_query", "query is required and must not be empty")
    if len(query) > config.max_query_chars:
        raise BadRequest("bad_query", f"query is longer than {config.max_query_chars} characters")
    max_tokens = _int_param(get("max_tokens"), "max_tokens", DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT)
    temperature = _float_param(get("temperature"), "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0)
    user_id = get("user_id")
    if user_id is not None and not _USER_ID.fullmatch(user_id):
        raise BadRequest("bad_user_id", "user_id must be 1-128 characters of [A-Za-z0-9._:@-]")
    return StreamRequest(AnswerRequest(query, max_tokens, temperature), user_id)


def parse_last_event_id(value: str) -> Resume:
    match = _LAST_EVENT_ID.fullmatch(value) if len(value) <= _MAX_LAST_EVENT_ID_CHARS else None
    if match is None:
        raise BadRequest("bad_last_event_id", "Last-Event-ID must look like STREAM_ID:SEQ")
    return Resume(match[1], int(match[2]))


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    return value


def _float_param(raw: str | None, name: str, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails this comparison too
        raise BadRequest(f"bad_{name}", f"{name} must be a number from {low} to {high}")
    return value
