"""One short request of `sse-chaos probe`: what the target answers, item by item with the time
each arrived, read under a deadline and a byte bound. A target that does not answer with an
event stream is a `BadTarget`, said in one line with its status and first bytes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from harness.errors import EnvironmentProblem
from harness.request import Request
from harness.sse import Comment, Event, SSEParseError, SSEParser
from harness.untrusted import printable

MAX_BYTES = 1 << 20  # a probe reads at most this much of a stream
_SHOWN_BYTES = 120
_CONNECT_SECONDS = 10.0
_STREAM_TYPE = "text/event-stream"


class BadTarget(EnvironmentProblem):
    """The target answered with something other than an event stream, or not at all."""


@dataclass(frozen=True)
class Heard:
    seconds: float  # since the request was sent
    item: Event | Comment


@dataclass(frozen=True)
class Listening:
    content_type: str
    headers: Sequence[tuple[str, str]]  # as the target sent them: untrusted
    heard: Sequence[Heard]
    ended: bool  # the body ended before the window did

    @property
    def events(self) -> list[Event]:
        return [heard.item for heard in self.heard if isinstance(heard.item, Event)]


def redacted(text: str, secrets: Sequence[str]) -> str:
    """`text` with every value given with -H replaced: a target may echo a credential back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def listen(
    http: httpx.AsyncClient, request: Request, headers: Mapping[str, str], window: float, last_id: str | None = None
) -> Listening:
    """`request` (with `headers`), its stream read until it ends, `window` seconds pass or
    MAX_BYTES arrive; BadTarget when the target refuses, answers with something else or is silent."""
    started = time.monotonic()
    sent = (
        {"Accept": _STREAM_TYPE, "Accept-Encoding": "identity"}
        | request.content_headers()
        | request.headers
        | dict(headers)
        | ({"Last-Event-ID": last_id} if last_id is not None else {})
    )
    built = http.build_request(
        request.method, request.url, params=request.params, headers=sent, content=request.content()
    )
    secrets = list(headers.values()) + list(request.headers.values())
    try:
        async with asyncio.timeout(_CONNECT_SECONDS):
            response = await http.send(built, stream=True)
    except (TimeoutError, httpx.HTTPError) as error:
        raise BadTarget(f"the target {printable(request.url)} did not answer: {type(error).__name__}") from None
    try:
        await _refuse_other_than_a_stream(response, secrets)
        heard, ended = await _read(response, started, window)
    finally:
        await response.aclose()
    if not heard:
        raise BadTarget(f"the target {printable(request.url)} answered HTTP 200 and then sent nothing in {window:g} s")
    return Listening(response.headers.get("content-type", ""), list(response.headers.items()), heard, ended)


async def _refuse_other_than_a_stream(response: httpx.Response, secrets: Sequence[str]) -> None:
    content_type = response.headers.get("content-type", "")
    if response.status_code == 200 and content_type.split(";")[0].strip().lower() == _STREAM_TYPE:
        return
    first = b""
    try:
        async with asyncio.timeout(_CONNECT_SECONDS):
            async for chunk in response.aiter_raw():
                first += chunk
                if len(first) >= _SHOWN_BYTES:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass  # what arrived is what is shown
    shown = printable(redacted(first[:_SHOWN_BYTES].decode("utf-8", "replace"), secrets), _SHOWN_BYTES)
    kind = printable(content_type, 80) or "no content type"
    raise BadTarget(f"the target answered HTTP {response.status_code} ({kind}), not an event stream: {shown!r}")


async def _read(response: httpx.Response, started: float, window: float) -> tuple[list[Heard], bool]:
    """The items heard, and whether the body ended, within `window` seconds of `started`."""
    parser, heard, received = SSEParser(), [], 0
    try:
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + window - (time.monotonic() - started)):
            async for chunk in response.aiter_raw():
                received += len(chunk)
                now = time.monotonic() - started
                heard += [Heard(now, item) for item in parser.feed(chunk)]
                if received >= MAX_BYTES:
                    return heard, False
            now = time.monotonic() - started
            return heard + [Heard(now, item) for item in parser.close()], True
    except TimeoutError:
        return heard, False
    except SSEParseError as error:
        raise BadTarget(f"the target's stream is not one this harness can read: {error}") from None
    except httpx.HTTPError:
        return heard, True  # the body ended, if not cleanly: what was heard is what it says
