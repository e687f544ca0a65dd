"""What is under test: the endpoint's URL, how to read it (its profile), and the headers every
request to it carries (credentials, usually: they are sent, never written to a report or log)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from harness.errors import ConfigurationError
from harness.profile import TargetProfile

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Headers the clients set themselves: a stream, its resume and its framing depend on them.
_SET_BY_THE_HARNESS = {
    "accept",
    "accept-encoding",
    "cache-control",
    "connection",
    "content-length",
    "host",
    "last-event-id",
    "transfer-encoding",
}


@dataclass(frozen=True)
class Target:
    url: str
    profile: TargetProfile
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL as error:
            raise ConfigurationError(f"the target {self.url[:200]!r} is not a URL: {error}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(
                f"the target must be an http:// or https:// URL with a host, not {self.url[:200]!r}"
            )


def parse_headers(lines: Iterable[str], profile: TargetProfile) -> dict[str, str]:
    """`Name: value` lines (a CLI's repeated --header) as headers for every request. Errors name
    the header, never its value, which is often a secret."""
    reserved = _SET_BY_THE_HARNESS | ({profile.trace_header.lower()} if profile.trace_header else set())
    headers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _TOKEN.fullmatch(name):
            raise ConfigurationError(f"header #{number} is not 'Name: value' with a valid header name")
        if not _FIELD_VALUE.fullmatch(value):
            raise ConfigurationError(f"header {name[:64]}: its value has control characters")
        if name.lower() in reserved:
            raise ConfigurationError(f"header {name[:64]}: the harness sets this one itself")
        headers[name] = value
    return headers
