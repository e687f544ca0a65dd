"""The baseline: the target's fault-free answer to a request, straight from it, once per request."""

from __future__ import annotations

import asyncio

import httpx

from harness.checks.views import content_payloads, joined_content, payload
from harness.client import ClientSettings, Outcome, RobustClient
from harness.history import Baseline, History, Kind
from harness.target import Target

_ATTEMPTS = 3


class Baselines:
    """Fetches each request's baseline once, however many scenarios ask for it at a time."""

    def __init__(self, target: Target, http: httpx.AsyncClient) -> None:
        self.target = target
        self.http = http
        self._fetched: dict[tuple[tuple[str, str], ...], asyncio.Future[Baseline]] = {}

    async def get(self, params: dict[str, str], deadline: float) -> Baseline:
        """The answer to `params`, fetched within `deadline` seconds by whichever scenario asks first.
        When the target did not give it whole, the baseline says why (an empty one would match
        anything): that is a verdict on the target, so the checks that need it fail."""
        key = tuple(sorted(params.items()))
        if key not in self._fetched:
            self._fetched[key] = asyncio.ensure_future(self._fetch(params, deadline))
        try:  # another scenario may have started the fetch, with a longer deadline than this one's
            async with asyncio.timeout(deadline):
                return await asyncio.shield(self._fetched[key])
        except TimeoutError:
            return Baseline(failure=f"not fetched within this scenario's deadline of {deadline:g} s")

    async def _fetch(self, params: dict[str, str], deadline: float) -> Baseline:
        profile = self.target.profile
        if profile.payload != "protocol":
            return Baseline()
        history = History()
        settings = ClientSettings(
            self.target.url, params, dict(self.target.headers), max_attempts=_ATTEMPTS, deadline=deadline
        )
        result = await RobustClient("baseline", settings, history, self.http, profile).run()
        if result.outcome != Outcome.COMPLETE:
            return Baseline(failure=f"{result.outcome.value}, {result.detail[:200]!r}")
        events = history.of_kind(Kind.EVENT)
        content = joined_content(content_payloads(events, profile.content_event))
        terminal = next((payload(e) for e in events if e.event in profile.terminal_events), {})
        return Baseline(content=content, reason=terminal.get("reason"))
