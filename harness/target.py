"""What is under test: the endpoint's URL, how to read it (its profile), the headers every
request to it carries (credentials, usually: they are sent, never written to a report or log),
and the timing it advertises, read by the one parser of advertised timings (`advertised_seconds`)
that the probe and every client use.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, ConfigDict

from harness.errors import ConfigurationError, EnvironmentProblem
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


# An advertised timing is a decimal number of seconds (ASCII digits, an optional fraction and
# exponent, no digit separators); zero or less advertises nothing. The page's advertisedSeconds
# (sse-stream.js) follows the same rule, tested against this one.
_DECIMAL = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
# The reference contract's silence threshold, for a target that neither advertises nor declares one.
DEFAULT_SILENCE_SECONDS = 15.0
_PROBE_SECONDS = 15.0
_PROBE_HEADERS = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}


class Timing(BaseModel):
    """What the target advertises (or its profile declares), in seconds; None when neither says."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    heartbeat: float | None = None
    silence: float | None = None
    cap: float | None = None


def advertised_seconds(raw: str | None) -> float | None:
    """A timing header's value in seconds; None when it is absent, zero or negative (nothing is
    advertised). ValueError when it is not a finite decimal number."""
    if raw is None:
        return None
    if not _DECIMAL.fullmatch(raw) or not math.isfinite(value := float(raw)):
        raise ValueError(f"not a number of seconds: {raw[:32]!r}")
    return value if value > 0 else None


def seconds_if_advertised(raw: str | None) -> float | None:
    """What a client adopts mid-stream: the advertised value, or nothing when it is malformed."""
    try:
        return advertised_seconds(raw)
    except ValueError:
        return None


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


def on_this_machine(url: str) -> bool:
    """Whether the target's host is this machine's loopback (a name or an address)."""
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _probe_params(profile: TargetProfile) -> dict[str, str]:
    """The smallest request the target answers: one token of the reference contract, or nothing."""
    return {"query": "probe", "max_tokens": "1"} if profile.payload == "protocol" else {}


async def probe_timing(http: httpx.AsyncClient, target: Target) -> Timing:
    """One request's response headers: what the target advertises, else what its profile declares.
    A timing header that is present and not a valid number is a configuration error."""
    try:
        async with asyncio.timeout(_PROBE_SECONDS):
            headers = _PROBE_HEADERS | dict(target.headers)
            request = http.build_request("GET", target.url, params=_probe_params(target.profile), headers=headers)
            response = await http.send(request, stream=True)
            await response.aclose()
    except (TimeoutError, httpx.HTTPError) as error:
        raise EnvironmentProblem(f"the target {target.url} did not answer: {type(error).__name__}") from None
    if response.status_code != 200:
        raise EnvironmentProblem(f"the target {target.url} answered HTTP {response.status_code}")
    profile = target.profile
    return Timing(
        heartbeat=_probed(response.headers, profile.interval_header, profile.heartbeat_interval),
        silence=_probed(response.headers, profile.silence_header, profile.silence_threshold),
        cap=_probed(response.headers, profile.cap_header, profile.stream_max_seconds),
    )


def _probed(headers: httpx.Headers, name: str | None, declared: float | None) -> float | None:
    try:
        advertised = advertised_seconds(headers.get(name) if name else None)
    except ValueError as error:
        raise ConfigurationError(f"the target's {name} is {error}") from None
    return advertised if advertised is not None else declared
