"""A robust reconnecting SSE client on httpx that records everything into a History.

Behaviour: silence detection (no byte within the threshold), reconnection with exponential
backoff and jitter floored by the server's `retry:`, `Last-Event-ID` resume, the stream's
trace id sent on every reconnection, dedup by event id, connection states and callbacks,
a maximum attempt count and an overall deadline. Cancelling `run()` closes the connection,
records the client as disconnected and cancelled, and re-raises. A client whose records reach
the history's cap stops there: what it would read next could not be judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpx

from harness.history import History, Kind
from harness.profile import DEFAULT_PROFILE, TargetProfile
from harness.reading import ends_stream, server_error
from harness.request import Request
from harness.sse import Comment, Event, SSEParseError, SSEParser
from harness.target import DEFAULT_SILENCE_SECONDS, seconds_if_advertised
from harness.transport import route_through
from harness.untrusted import printable

if TYPE_CHECKING:
    from harness.plan import Plan

_MAX_HEADER_VALUE_CHARS = 256
_MAX_SEEN_IDS = 200_000
# Closing a response only closes its socket; the bound is there because the overall deadline,
# once it has fired, no longer covers the close in `finally`.
_CLOSE_SECONDS = 1.0


class State(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


class Outcome(StrEnum):
    COMPLETE = "complete"  # a terminal event arrived
    ERROR = "error"  # a non-retryable error event: a clean, deliberate end
    HTTP_ERROR = "http_error"  # 204, a non-200 status or a wrong content type
    PROTOCOL_ERROR = "protocol_error"  # the stream broke the parser's bounds
    RECORDS_CAPPED = "records_capped"  # the client's records reached the history's cap
    GAVE_UP = "gave_up"  # max attempts reached
    DEADLINE = "deadline"  # the overall deadline passed
    CANCELLED = "cancelled"  # run() was cancelled before any of the above


@dataclass
class Callbacks:
    on_content: Callable[[Event], None] | None = None
    on_heartbeat: Callable[[Event | Comment], None] | None = None
    on_complete: Callable[[Event], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_state: Callable[[State], None] | None = None


@dataclass
class ClientSettings:
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    silence_threshold: float | None = None  # None: the server's advertised value, else the profile's
    connect_timeout: float = 5.0
    max_attempts: int = 20
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    deadline: float = 120.0
    max_line_bytes: int = 1 << 20
    max_event_bytes: int = 4 << 20
    # (host, port) of a TCP proxy in front of `url`'s server: requests go there, naming the server
    connect_to: tuple[str, int] | None = None
    method: str = "GET"
    body: str | None = None  # JSON text, sent as application/json


def settings_for(request: Request, headers: Mapping[str, str], **options: Any) -> ClientSettings:
    """Settings that make `request`, with `headers` (credentials, usually) over its own."""
    merged = request.content_headers() | request.headers | dict(headers)
    return ClientSettings(
        request.url, dict(request.params), merged, method=request.method, body=request.body, **options
    )


def planned_settings(plan: Plan, headers: Mapping[str, str], connect_to: tuple[str, int]) -> ClientSettings:
    """The settings of a plan's clients, through the proxy at `connect_to`, wherever they run."""
    return settings_for(
        plan.request,
        headers,
        max_attempts=plan.clients.max_attempts,
        deadline=plan.clients.deadline,
        backoff_max=plan.clients.backoff_max,
        connect_to=connect_to,
    )


def http_client_name(index: int) -> str:
    """A plan's HTTP client `index`: the same name in whichever process runs it."""
    return f"c{index:04d}"


def client_name(plan: Plan, index: int) -> str:
    """A plan's client `index`, as named in whichever process runs it: "c0000" for an HTTP client,
    "b0000" for a browser client."""
    return http_client_name(index) if plan.clients.kind == "http" else f"b{index:04d}"


@dataclass
class ClientResult:
    name: str
    outcome: Outcome
    detail: str
    connections: int
    events: int


class _Reconnect(Exception):
    """The connection ended in a way that calls for a reconnection."""


class _Finished(Exception):
    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class RobustClient:
    def __init__(
        self,
        name: str,
        settings: ClientSettings,
        history: History,
        http: httpx.AsyncClient,
        profile: TargetProfile = DEFAULT_PROFILE,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.history = history
        self.http = http
        self.profile = profile
        self.callbacks = callbacks or Callbacks()
        self.state = State.DISCONNECTED
        self.last_event_id = ""
        self.trace_id: str | None = None
        self.retry_ms: int | None = None
        self.silence_threshold = settings.silence_threshold or profile.silence_threshold or DEFAULT_SILENCE_SECONDS
        self.connection = -1
        self.events = 0
        self._seen_ids: set[str] = set()
        self._made_progress = False  # the current connection delivered an event

    async def run(self) -> ClientResult:
        """Stream until a terminal outcome; never raises for network or server trouble."""
        try:
            async with asyncio.timeout(self.settings.deadline):
                outcome, detail = await self._loop()
        except TimeoutError:
            outcome, detail = Outcome.DEADLINE, f"no terminal event within {self.settings.deadline:g} s"
        except asyncio.CancelledError:
            self._finish(Outcome.CANCELLED, "cancelled before the stream ended")
            raise
        return self._finish(outcome, detail)

    def _finish(self, outcome: Outcome, detail: str) -> ClientResult:
        self._set_state(State.DISCONNECTED)
        self.history.add(self.name, Kind.OUTCOME, connection=self.connection, outcome=outcome.value, detail=detail)
        return ClientResult(self.name, outcome, detail, self.connection + 1, self.events)

    async def _loop(self) -> tuple[Outcome, str]:
        failures = 0
        last_reason = ""
        while True:
            self.connection += 1
            self._set_state(State.CONNECTING if self.connection == 0 else State.RECONNECTING)
            try:
                if await self._connect_once() and self.profile.ends_on_close:
                    return Outcome.COMPLETE, "the body ended: a clean end for this target"
                raise _Reconnect("the body ended without a terminal event")
            except _Finished as finished:
                return finished.outcome, finished.detail
            except _Reconnect as reason:
                last_reason = str(reason)
                self._record_error(last_reason)
            failures = 0 if self._made_progress else failures + 1
            if self.connection + 1 >= self.settings.max_attempts:
                attempts = self.settings.max_attempts
                return Outcome.GAVE_UP, f"gave up after {attempts} connection attempts; last: {last_reason}"
            self._set_state(State.RECONNECTING)
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        exponential = min(self.settings.backoff_max, self.settings.backoff_initial * 2**failures)
        floor = (self.retry_ms or 0) / 1000
        return max(floor, exponential * random.uniform(0.5, 1.0))

    def _request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "Accept-Encoding": "identity"}
        headers |= self.settings.headers
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        if self.trace_id is not None and self.profile.trace_header:
            headers[self.profile.trace_header] = self.trace_id
        return headers

    def _start_afresh(self) -> None:
        """A server that cannot resume answers every attempt from the start: what the client saw
        before says nothing of this attempt (its ids may come again, its trace id is new)."""
        self.last_event_id = ""
        self.trace_id = None
        self._seen_ids.clear()

    async def _connect_once(self) -> bool:
        """One connection, to its end; True when its body ended cleanly (not inside an event)."""
        self._made_progress = False
        if not self.profile.resume:
            self._start_afresh()
        headers = self._request_headers()
        recorded = ("Last-Event-ID", self.profile.trace_header)  # never the settings' headers: credentials
        self.history.add(
            self.name,
            Kind.ATTEMPT,
            connection=self.connection,
            event_id=headers.get("Last-Event-ID", ""),
            detail=json.dumps({k: v for k, v in headers.items() if k in recorded}),
        )
        body = self.settings.body.encode() if self.settings.body is not None else None
        request = self.http.build_request(
            self.settings.method, self.settings.url, params=self.settings.params, headers=headers, content=body
        )
        if self.settings.connect_to is not None:
            route_through(request, self.settings.connect_to)
        try:
            async with asyncio.timeout(self.settings.connect_timeout + self.silence_threshold):
                response = await self.http.send(request, stream=True)
        except TimeoutError:
            waited = self.settings.connect_timeout + self.silence_threshold
            raise _Reconnect(f"no response headers within {waited:g} s") from None
        except httpx.HTTPError as error:
            raise _Reconnect(f"connection failed: {_describe(error)}") from None
        try:
            self._accept(response)
            self._set_state(State.CONNECTED)
            return await self._read_body(response)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await asyncio.shield(response.aclose())

    def _accept(self, response: httpx.Response) -> None:
        headers = {k: v[:_MAX_HEADER_VALUE_CHARS] for k, v in response.headers.items()}
        self.history.add(
            self.name,
            Kind.RESPONSE,
            connection=self.connection,
            status=response.status_code,
            detail=json.dumps(headers),
        )
        if response.status_code == 204:
            raise _Finished(Outcome.HTTP_ERROR, "the server answered 204 No Content: told to stop")
        if response.status_code == HTTPStatus.SERVICE_UNAVAILABLE and self.last_event_id:
            # a stream under way met a draining instance, or a store or balancer with none up: it resumes later
            raise _Reconnect("the server answered HTTP 503 while the stream was under way")
        if response.status_code != 200:
            raise _Finished(Outcome.HTTP_ERROR, f"the server answered HTTP {response.status_code}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "text/event-stream":
            raise _Finished(Outcome.HTTP_ERROR, f"content type is {media_type[:64]!r}, not text/event-stream")
        self._adopt_advertised(response.headers)

    def _adopt_advertised(self, headers: httpx.Headers) -> None:
        trace_header = self.profile.trace_header
        if self.trace_id is None and trace_header and trace_header in headers:
            self.trace_id = headers[trace_header][:_MAX_HEADER_VALUE_CHARS]
        if self.settings.silence_threshold is None:
            advertised = _advertised(headers, self.profile.silence_header)
            self.silence_threshold = advertised or self.silence_threshold

    async def _read_body(self, response: httpx.Response) -> bool:
        parser = SSEParser(self.last_event_id, self.settings.max_line_bytes, self.settings.max_event_bytes)
        chunks = response.aiter_raw()
        while True:
            try:
                async with asyncio.timeout(self.silence_threshold):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise _Reconnect(f"silence: no byte for {self.silence_threshold:g} s") from None
            except httpx.HTTPError as error:
                raise _Reconnect(f"connection cut: {_describe(error)}") from None
            self.history.add_read(self.name, self.connection, parser.bytes_fed, len(chunk))
            try:
                items = parser.feed(chunk)
            except SSEParseError as error:
                raise _Finished(Outcome.PROTOCOL_ERROR, str(error)) from None
            for item in items:
                self._handle(item)
            self.retry_ms = parser.retry if parser.retry is not None else self.retry_ms
            if (marker := self.history.truncated(self.name)) is not None:
                raise _Finished(Outcome.RECORDS_CAPPED, marker.detail)
        cut = parser.incomplete
        if cut:
            self._record_error(f"the body ended inside an event, {parser.unterminated_bytes} bytes unterminated")
        parser.close()
        return not cut

    def _handle(self, item: Event | Comment) -> None:
        if isinstance(item, Comment):
            self.history.add(self.name, Kind.COMMENT, connection=self.connection, offset=item.offset, data=item.text)
            if self.profile.heartbeat == "comment" and self.callbacks.on_heartbeat:
                self.callbacks.on_heartbeat(item)
            return
        values = {"connection": self.connection, "offset": item.offset, "event": item.event, "data": item.data}
        if item.has_id and item.id in self._seen_ids:
            self.history.add(self.name, Kind.DUPLICATE, event_id=item.id, has_id=True, **values)
            return
        self.history.add(self.name, Kind.EVENT, event_id=item.id if item.has_id else "", has_id=item.has_id, **values)
        self.events += 1
        self._made_progress = True
        if item.has_id:
            self.last_event_id = item.id
            if len(self._seen_ids) < _MAX_SEEN_IDS:
                self._seen_ids.add(item.id)
        self._dispatch(item)

    def _dispatch(self, item: Event) -> None:
        profile, callbacks = self.profile, self.callbacks
        if ends_stream(profile, item.event, item.data):
            if callbacks.on_complete:
                callbacks.on_complete(item)
            ending = f"terminal event {item.event!r}" if item.event in profile.terminal_events else "the end sentinel"
            raise _Finished(Outcome.COMPLETE, ending)
        error = server_error(profile, item.event, item.data)
        if error is not None:
            if callbacks.on_error:
                callbacks.on_error(error.message)
            if error.retryable:
                raise _Reconnect(f"retryable error event: {error.message}")
            raise _Finished(Outcome.ERROR, f"non-retryable error event: {error.message}")
        if profile.heartbeat == "event" and item.event == profile.heartbeat_event:
            if callbacks.on_heartbeat:
                callbacks.on_heartbeat(item)
        elif callbacks.on_content:
            callbacks.on_content(item)

    def _set_state(self, state: State) -> None:
        if state == self.state:
            return
        self.state = state
        self.history.add(self.name, Kind.STATE, connection=self.connection, detail=state.value)
        if self.callbacks.on_state:
            self.callbacks.on_state(state)

    def _record_error(self, reason: str) -> None:
        self.history.add(self.name, Kind.ERROR, connection=self.connection, detail=reason)


def _advertised(headers: httpx.Headers, name: str | None) -> float | None:
    return seconds_if_advertised(headers.get(name)) if name else None


def _describe(error: Exception) -> str:
    return printable(f"{type(error).__name__}: {error}") if str(error) else type(error).__name__
