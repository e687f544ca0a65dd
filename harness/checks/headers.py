"""Check 1: response headers present and well formed."""

from __future__ import annotations

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import Connection, client_views, payload
from harness.history import History
from harness.plan import Plan
from harness.wording import counted

_NUMERIC = ("x-stream-max-seconds", "x-heartbeat-interval", "x-silence-threshold")
_EXPECTED_VALUES = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_STREAM_ID = "x-stream-id"
_RESUME_FAILURES = ("bad_last_event_id", "unknown_stream")


def check_headers(plan: Plan, history: History) -> Verdict:
    required = [name.lower() for name in plan.profile.required_headers]
    problems: list[str] = []
    responses = 0
    for client in client_views(history):
        for connection in client.connections:
            if connection.status != 200:
                continue
            responses += 1
            where = f"{client.name}#{connection.number}"
            if plan.profile.payload == "protocol" and _resume_failure(connection):
                found = _resume_failure_problems(connection.headers, required)
            else:
                found = _problems(connection.headers, required)
            problems += [f"{where}: {problem}" for problem in found]
    if responses == 0:
        return not_applicable("no 200 response to inspect")
    return verdict(problems, f"{counted(responses, 'response')} carried every required header", responses=responses)


def _problems(headers: dict[str, str], required: list[str]) -> list[str]:
    problems = []
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "text/event-stream":
        problems.append(f"content-type is {media_type!r}")
    for name in required:
        value = headers.get(name)
        if value is None:
            problems.append(f"missing {name}")
        elif name in _NUMERIC and not _positive_number(value):
            problems.append(f"{name} is not a positive number: {value[:32]!r}")
        elif name in _EXPECTED_VALUES and _EXPECTED_VALUES[name] not in value.lower():
            problems.append(f"{name} is {value[:32]!r}, expected {_EXPECTED_VALUES[name]!r}")
    return problems


def _resume_failure(connection: Connection) -> bool:
    """The contract's answer to a resume it cannot serve: one `error` event, of a resume failure's
    code, for no stream (docs/protocol.md §8.1)."""
    if len(connection.events) != 1 or connection.events[0].event != "error":
        return False
    error = payload(connection.events[0])
    return error.get("code") in _RESUME_FAILURES and error.get("stream_id") is None


def _resume_failure_problems(headers: dict[str, str], required: list[str]) -> list[str]:
    """A resume failure has every header but `X-Stream-ID`, which it must not have: there is no stream."""
    problems = _problems(headers, [name for name in required if name != _STREAM_ID])
    if _STREAM_ID in headers:
        problems.append(f"{_STREAM_ID} on a resume failure, which has no stream")
    return problems


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False
