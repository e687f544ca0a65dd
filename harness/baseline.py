"""The baseline: the target's fault-free answer to a request, straight from it, once per request."""

from __future__ import annotations

import asyncio

import httpx

from harness.checks.views import client_views, kept_answer, reason_of, terminal_event
from harness.client import Outcome, RobustClient, settings_for
from harness.figures import answer_times
from harness.history import Baseline, History
from harness.profile import TargetProfile
from harness.request import Request
from harness.target import Target

_ATTEMPTS = 3


def compares_answers(profile: TargetProfile) -> bool:
    """Whether the target's answers can be compared with a fault-free one: there is answer text,
    and a fixed request gets the same answer every time."""
    return profile.has_answer and profile.deterministic and not profile.endless


class Baselines:
    """Fetches each request's baseline once, however many scenarios ask for it at a time."""

    def __init__(self, target: Target, http: httpx.AsyncClient) -> None:
        self.target = target
        self.http = http
        self._fetched: dict[str, asyncio.Future[Baseline]] = {}

    async def get(self, request: Request, deadline: float) -> Baseline:
        """The answer to `request`, fetched within `deadline` seconds by whichever scenario asks first.
        When the target did not give it whole, the baseline says why (an empty one would match
        anything): that is a verdict on the target, so the checks that need it fail."""
        key = request.key()
        if key not in self._fetched:
            self._fetched[key] = asyncio.ensure_future(self._fetch(request, deadline))
        try:  # another scenario may have started the fetch, with a longer deadline than this one's
            async with asyncio.timeout(deadline):
                return await asyncio.shield(self._fetched[key])
        except TimeoutError:
            return Baseline(failure=f"not fetched within this scenario's deadline of {deadline:g} s")

    async def _fetch(self, request: Request, deadline: float) -> Baseline:
        profile = self.target.profile
        if not compares_answers(profile):
            return Baseline()
        history = History()
        settings = settings_for(request, self.target.headers, max_attempts=_ATTEMPTS, deadline=deadline)
        result = await RobustClient("baseline", settings, history, self.http, profile).run()
        if result.outcome != Outcome.COMPLETE:
            return Baseline(failure=f"{result.outcome.value}, {result.detail[:200]!r}")
        (client,) = client_views(history)
        reason = reason_of(terminal_event(client, profile))
        times = answer_times(client, profile, history)
        return Baseline(
            content=kept_answer(client, profile),
            reason=reason if isinstance(reason, str) else None,
            first_content_s=times.first_content,
            whole_s=times.whole,
        )
