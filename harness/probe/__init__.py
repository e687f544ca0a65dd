"""`sse-chaos probe`: a few short requests to a target (each under a deadline, each read
bounded) and what they say it speaks, as a draft profile explained in plain words.

The first request listens to a short answer; when its events carry ids, a second one reconnects
with `Last-Event-ID` set to an id from its middle and compares what comes with what followed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.probe.draft import draft_text, fitting
from harness.probe.findings import Findings, find, resumed
from harness.probe.listen import Listening, listen, redacted
from harness.profile import DEFAULT_PROFILE, TargetProfile, load_profile
from harness.request import resolve_request
from harness.sse import Event
from harness.untrusted import printable

PROBE_QUERY = "probe"
PROBE_TOKENS = 200  # a few heartbeats of a fast server; seconds of an LLM's time
_SHOWN_HEADERS = 40


@dataclass(frozen=True)
class Probe:
    listening: Listening
    findings: Findings
    extends: str
    draft: str


async def probe(
    http: httpx.AsyncClient, url: str, profile_name: str | None, headers: Mapping[str, str], window: float
) -> Probe:
    asked = load_profile(profile_name)
    request = resolve_request(asked.request, url, PROBE_QUERY, PROBE_TOKENS)
    first = await listen(http, request, headers, window)
    middle = _middle_id(first)
    resumes = None
    if middle is not None:
        again = await listen(http, request, headers, window, last_id=middle.id)
        resumes = resumed(first, again, middle)
    findings = find(first, resumes, asked)
    extends = _extends(profile_name, findings, asked)
    parent = load_profile(extends)
    return Probe(first, findings, extends, draft_text(findings, extends, parent, asked.request))


def _middle_id(listening: Listening) -> Event | None:
    with_ids = [event for event in listening.events if event.has_id]
    return with_ids[len(with_ids) // 2 - 1] if len(with_ids) >= 2 else None


def _extends(profile_name: str | None, findings: Findings, asked: TargetProfile) -> str:
    if profile_name is None:
        return fitting(findings, asked.request)
    path = Path(profile_name)
    return str(path.resolve()) if path.suffix else profile_name


def summary_lines(result: Probe, secrets: list[str]) -> list[str]:
    """What the probe found, for the terminal: every value from the target escaped and bounded,
    every value given with -H withheld."""
    listening = result.listening
    lines = [f"content type: {printable(listening.content_type, 120)}", "response headers:"]
    for name, value in listening.headers[:_SHOWN_HEADERS]:
        lines.append(f"  {printable(name, 64)}: {printable(redacted(value, secrets), 120)}")
    names = sorted({event.event for event in listening.events})
    lines.append(f"events named: {', '.join(printable(name, 60) for name in names[:20])}")
    lines += result.findings.notes
    fields_by_why: dict[str, list[str]] = {}
    for name, why in result.findings.why.items():
        fields_by_why.setdefault(why, []).append(name)
    lines += [f"{', '.join(names)}: {why}" for why, names in fields_by_why.items()]
    lines.append(
        f"draft extends {result.extends!r}"
        if result.extends != DEFAULT_PROFILE.name
        else "draft extends the reference contract"
    )
    return lines
