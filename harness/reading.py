"""Reading a stream the way its profile says: which event ends it, which is the server's error
(and its message), and where an event's answer text is. The client and the checks share these."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from jsonpointer import JsonPointer

from harness.profile import TargetProfile
from harness.untrusted import printable

_ABSENT = object()


@dataclass(frozen=True)
class ServerError:
    retryable: bool
    message: str  # printable and bounded: what the server said is untrusted


def json_of(data: str) -> Any:
    """An event's data as JSON; None when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def ends_stream(profile: TargetProfile, event: str, data: str) -> bool:
    """A terminal event, or the data sentinel (OpenAI's `[DONE]`)."""
    return event in profile.terminal_events or (profile.terminal_data is not None and data == profile.terminal_data)


def is_content(profile: TargetProfile, event: str, data: str) -> bool:
    return event == profile.content_event and not ends_stream(profile, event, data)


def answer_text(profile: TargetProfile, data: str) -> str:
    """The answer text a content event carries: the string at the profile's `answer` pointer
    (nothing when the data is not JSON, or holds no string there, as OpenAI's last chunk)."""
    return answer_in(profile, json_of(data))


def answer_in(profile: TargetProfile, document: Any) -> str:
    """`answer_text` of data already read as JSON."""
    found = _at(document, profile.answer)
    return found if isinstance(found, str) else ""


def server_error(profile: TargetProfile, event: str, data: str) -> ServerError | None:
    """The server's error, when this event is one: an event named `error_event`, or data whose
    JSON has a value at `error_pointer` (OpenAI's `{"error": {...}}`)."""
    named = profile.error_event is not None and event == profile.error_event
    if not named and profile.error_pointer is None:
        return None
    document = json_of(data)
    found = _at(document, profile.error_pointer) if profile.error_pointer is not None else _ABSENT
    if found is _ABSENT and not named:
        return None
    error = document if found is _ABSENT else found
    return ServerError(isinstance(error, dict) and error.get("retryable") is True, _message(error, data))


def _at(document: Any, pointer: str) -> Any:
    if document is None:
        return _ABSENT
    return _parsed(pointer).resolve(document, _ABSENT)


@functools.cache
def _parsed(pointer: str) -> JsonPointer:
    """A profile has two pointers, read for every event: each is parsed once."""
    return JsonPointer(pointer)


def _message(error: Any, data: str) -> str:
    """`code: message` of an error object (OpenAI's and Anthropic's `type`, the contract's `code`),
    a string as it is, else the data itself; made printable and bounded."""
    if isinstance(error, dict):
        kind = error.get("code") or error.get("type") or "error"
        text = f"{kind}: {error.get('message', '')}"
    elif isinstance(error, str):
        text = error
    else:
        text = data
    return printable(text)
