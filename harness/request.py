"""What the clients send: a request's shape (a profile's, overridden by a scenario's), and the
request it resolves to for a scenario's query and answer length.

`{query}` and `{max_tokens}` are placeholders in parameter values and in the body's strings; a
body string that is exactly "{max_tokens}" becomes the number. Headers are never written, in
a plan, a history or a report: they may hold credentials.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigurationError, describe_validation_error

QUERY = "{query}"
MAX_TOKENS = "{max_tokens}"
_PLACEHOLDER = re.compile(r"\{query\}|\{max_tokens\}")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Headers the clients set themselves: a stream, its resume and its framing depend on them.
SET_BY_THE_HARNESS = frozenset(
    {
        "accept",
        "accept-encoding",
        "cache-control",
        "connection",
        "content-length",
        "host",
        "last-event-id",
        "transfer-encoding",
    }
)
Method = Literal["GET", "POST"]


class RequestShape(BaseModel):
    """The request every client makes: `path` (None: the target URL's), query `params`, a JSON
    `body` template (POST only) and extra `headers`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method = "GET"
    path: str | None = None
    params: dict[str, str] = Field(default_factory=lambda: {"query": QUERY, "max_tokens": MAX_TOKENS})
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _sendable(self) -> RequestShape:
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', not {self.path[:64]!r}")
        if self.body is not None:
            if self.method == "GET":
                raise ValueError('a body needs method = "POST"')
            body_text(self.body, "query", 1)
        for name, value in self.headers.items():
            if problem := header_problem(name, value):
                raise ValueError(problem)
        return self

    def raw(self) -> dict[str, Any]:
        """The shape as TOML would write it, headers included."""
        return self.model_dump() | {"headers": dict(self.headers)}


class RequestOverride(BaseModel):
    """A scenario's `[request]` table: what it sets replaces (tables: key by key) the profile's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method | None = None
    path: str | None = None
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None

    def over(self, shape: RequestShape, scenario: str) -> RequestShape:
        try:
            return RequestShape.model_validate(merged_tables(shape.raw(), self.model_dump(exclude_none=True)))
        except ValidationError as error:
            raise ConfigurationError(describe_validation_error(f"scenario {scenario}: request", error)) from None


class Request(BaseModel):
    """What every client of a scenario asks for; `body` is JSON text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    method: Method = "GET"
    params: dict[str, str]
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, exclude=True)

    def content(self) -> bytes | None:
        return self.body.encode() if self.body is not None else None

    def content_headers(self) -> dict[str, str]:
        """What the body needs said about it (the request's own headers may say otherwise)."""
        return {"Content-Type": "application/json"} if self.body is not None else {}

    def key(self) -> str:
        """One text per distinct request (headers included): the fault-free baseline is fetched once per key."""
        return json.dumps([self.model_dump(), self.headers], sort_keys=True)


def resolve_request(
    shape: RequestShape, url: str, query: str, max_tokens: int, extra_params: dict[str, str] | None = None
) -> Request:
    """`shape` with the placeholders filled in, at `url` (its path replaced when the shape has one)."""
    if shape.path is not None:
        url = str(httpx.URL(url).copy_with(path=shape.path))
    params = {name: _filled(value, query, max_tokens) for name, value in shape.params.items()}
    body = body_text(shape.body, query, max_tokens) if shape.body is not None else None
    return Request(
        url=url, method=shape.method, params=params | (extra_params or {}), body=body, headers=dict(shape.headers)
    )


def body_text(body: dict[str, Any], query: str, max_tokens: int) -> str:
    """The body template as JSON text; ValueError when it is not valid JSON after substitution
    (a TOML date, an infinite or NaN number)."""
    try:
        return json.dumps(_substituted(body, query, max_tokens), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the body is not valid JSON after substitution: {str(error)[:120]}") from None


def _substituted(value: Any, query: str, max_tokens: int) -> Any:
    if isinstance(value, str):
        return max_tokens if value == MAX_TOKENS else _filled(value, query, max_tokens)
    if isinstance(value, dict):
        return {name: _substituted(item, query, max_tokens) for name, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item, query, max_tokens) for item in value]
    return value


def _filled(text: str, query: str, max_tokens: int) -> str:
    return _PLACEHOLDER.sub(lambda match: query if match[0] == QUERY else str(max_tokens), text)


def header_problem(name: str, value: str) -> str | None:
    """Why a header cannot be sent, naming it and never showing its value (often a secret)."""
    if not TOKEN.fullmatch(name):
        return f"header {name[:64]!r} is not a valid header name"
    if not FIELD_VALUE.fullmatch(value):
        return f"header {name[:64]}: its value has control characters"
    if name.lower() in SET_BY_THE_HARNESS:
        return f"header {name[:64]}: the harness sets this one itself"
    return None


def merged_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: a table merges key by key, anything else replaces."""
    merged = dict(base)
    for name, value in over.items():
        below = merged.get(name)
        merged[name] = merged_tables(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged
