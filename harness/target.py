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
from harness.request import TOKEN, Request, header_problem, resolve_request

# An advertised timing is a decimal number of seconds (ASCII digits, an optional fraction and
# exponent, no digit separators); zero or less advertises nothing. The page's advertisedSeconds
# (sse-stream.js) follows the same rule, tested against this one.
_DECIMAL = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
# The reference contract's silence threshold, for a target that neither advertises nor declares one.
DEFAULT_SILENCE_SECONDS = 15.0
_PROBE_SECONDS = 15.0
_PROBE_HEADERS = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}
_SHOWN_BYTES = 120


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
    trace = profile.trace_header.lower() if profile.trace_header else None
    headers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not TOKEN.fullmatch(name):
            raise ConfigurationError(f"header #{number} is not 'Name: value' with a valid header name")
        if problem := header_problem(name, value):
            raise ConfigurationError(problem)
        if name.lower() == trace:
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


def probe_request(target: Target) -> Request:
    """The smallest request the target answers: one token of the profile's request."""
    return resolve_request(target.profile.request, target.url, "probe", 1)


async def probe_timing(http: httpx.AsyncClient, target: Target) -> Timing:
    """One request's response headers: what the target advertises, else what its profile declares.
    A timing header that is present and not a valid number is a configuration error; a target
    that refuses the request is an environment problem, said with its status and first bytes."""
    probe = probe_request(target)
    try:
        async with asyncio.timeout(_PROBE_SECONDS):
            headers = _PROBE_HEADERS | probe.content_headers() | probe.headers | dict(target.headers)
            request = http.build_request(
                probe.method, probe.url, params=probe.params, headers=headers, content=probe.content()
            )
            response = await http.send(request, stream=True)
            try:
                refusal = await _refusal(response)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.HTTPError) as error:
        raise EnvironmentProblem(f"the target {target.url} did not answer: {type(error).__name__}") from None
    if refusal is not None:
        raise EnvironmentProblem(f"the target {target.url} answered {refusal}")
    profile = target.profile
    return Timing(
        heartbeat=_probed(response.headers, profile.interval_header, profile.heartbeat_interval),
        silence=_probed(response.headers, profile.silence_header, profile.silence_threshold),
        cap=_probed(response.headers, profile.cap_header, profile.stream_max_seconds),
    )


async def _refusal(response: httpx.Response) -> str | None:
    """A refusal's status and first bytes, escaped (a 4xx often says why: a wrong model, a
    missing key); None for a 200, whose content the checks judge."""
    if response.status_code == 200:
        return None
    first = b""
    async for chunk in response.aiter_raw():
        first += chunk
        if len(first) >= _SHOWN_BYTES:
            break
    return f"HTTP {response.status_code}: {first[:_SHOWN_BYTES]!r}"


def _probed(headers: httpx.Headers, name: str | None, declared: float | None) -> float | None:
    try:
        advertised = advertised_seconds(headers.get(name) if name else None)
    except ValueError as error:
        raise ConfigurationError(f"the target's {name} is {error}") from None
    return advertised if advertised is not None else declared
