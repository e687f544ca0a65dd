"""Hostile servers end in a clear outcome, soon and small: the robust client against every kind
of tests/helpers/hostile_servers.py, and the runner (through the real Toxiproxy) against a few.
Each ends within its deadline plus a margin, in one line, with a bounded history.

(tests/test_hostile_input.py is the other way round: the reference server against hostile clients.)
Times and peak memory are measured by bench/hostile_servers.py, not here: the machine is noisy.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.checks import Status
from harness.client import ClientSettings, Outcome, RobustClient
from harness.history import MAX_RECORDS_PER_CLIENT, MAX_TEXT_PER_CLIENT, History, Kind
from harness.profile import DEFAULT_PROFILE
from harness.runner import Runner
from harness.scenario import load_scenario
from harness.sse import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES
from harness.target import Target
from harness.toxiproxy import ToxiproxyAPI
from harness.transport import new_http_client
from tests.helpers.hostile_servers import KINDS, hostile_server

DEADLINE = 4.0
MARGIN = 10.0  # generous: a verdict must come soon after the deadline, on a busy machine too
# Each kind's outcomes and a part of the detail they say it with (random bytes may reach the
# record cap before the deadline or not, depending on the machine's speed).
EXPECTED: dict[str, tuple[set[Outcome], str]] = {
    "endless-line": ({Outcome.PROTOCOL_ERROR}, f"a line is longer than {DEFAULT_MAX_LINE_BYTES} bytes"),
    "huge-event": ({Outcome.PROTOCOL_ERROR}, f"an event is larger than {DEFAULT_MAX_EVENT_BYTES} bytes"),
    "random-bytes": ({Outcome.DEADLINE, Outcome.RECORDS_CAPPED}, ""),
    "endless-events": ({Outcome.RECORDS_CAPPED}, f"records capped at {MAX_RECORDS_PER_CLIENT} ("),
    "fat-comments": ({Outcome.RECORDS_CAPPED}, f"and {MAX_TEXT_PER_CLIENT} characters of text"),
    "wrong-content-type": ({Outcome.HTTP_ERROR}, "content type is 'text/html', not text/event-stream"),
    "server-error": ({Outcome.HTTP_ERROR}, "the server answered HTTP 503"),
    "endless-headers": ({Outcome.GAVE_UP}, "last: connection failed: RemoteProtocolError"),
    "silence": ({Outcome.GAVE_UP}, "last: silence: no byte for 1 s"),
    "no-response": ({Outcome.GAVE_UP}, "last: no response headers within 1.2 s"),
    "trickle": ({Outcome.DEADLINE}, f"no terminal event within {DEADLINE:g} s"),
    "redirect-loop": ({Outcome.HTTP_ERROR}, "the server answered HTTP 302"),
    "gzip-bomb": ({Outcome.PROTOCOL_ERROR}, f"a line is longer than {DEFAULT_MAX_LINE_BYTES} bytes"),
    "broken-chunked": ({Outcome.GAVE_UP}, "last: connection cut: RemoteProtocolError"),
    "close-after-headers": ({Outcome.GAVE_UP}, "last: the body ended without a terminal event"),
}
_SCENARIO = """
name = "hostile"
description = "Two clients, fault-free, against a hostile target."
[clients]
count = 2
max_attempts = 3
deadline = "{deadline}s"
[expect]
reason = "finished"
"""


def test_every_hostile_kind_has_an_expected_outcome() -> None:
    assert set(EXPECTED) == set(KINDS)
    assert len(KINDS) >= 10


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_hostile_server_ends_in_one_clear_line_within_the_deadline(kind: str) -> None:
    history = History()
    started = time.monotonic()
    async with hostile_server(kind) as url, new_http_client() as http:
        settings = ClientSettings(
            url, silence_threshold=1.0, connect_timeout=0.2, max_attempts=2, deadline=DEADLINE, backoff_initial=0.01
        )
        result = await RobustClient("c", settings, history, http).run()
    elapsed = time.monotonic() - started
    outcomes, said = EXPECTED[kind]
    assert result.outcome in outcomes, result.detail
    assert said in result.detail
    assert "\n" not in result.detail
    assert len(result.detail) <= 300
    assert elapsed < DEADLINE + MARGIN
    _assert_bounded(history)
    markers = history.of_kind(Kind.TRUNCATED)
    if result.outcome == Outcome.RECORDS_CAPPED:
        assert [marker.detail for marker in markers] == [result.detail]
        assert result.detail.startswith("records capped at ")
    else:
        assert markers == []


def _assert_bounded(history: History) -> None:
    """Within the caps, but for the marker and the outcome, which are kept past them."""
    kept = [record for record in history.records if record.kind not in (Kind.TRUNCATED, Kind.OUTCOME)]
    assert len(kept) <= history.max_records
    assert sum(len(r.data) + len(r.detail) + len(r.event_id) for r in kept) <= history.max_text


def _write_scenario(tmp_path: Path, deadline: float) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(_SCENARIO.format(deadline=deadline))
    return path


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["endless-events", "random-bytes", "trickle", "server-error"])
async def test_the_runner_ends_a_hostile_target_in_one_line_within_its_deadline(
    kind: str, api: ToxiproxyAPI, tmp_path: Path
) -> None:
    scenario = load_scenario(_write_scenario(tmp_path, DEADLINE))
    async with hostile_server(kind) as url, new_http_client() as http:
        run = await Runner(Target(url, DEFAULT_PROFILE), api, http).run(scenario)
    assert run.wall_seconds < DEADLINE + MARGIN
    if kind == "server-error":  # the timing probe is refused: an error, said in one line
        assert run.error is not None
        assert "\n" not in run.error
        assert len(run.error) <= 400
        return
    # Otherwise the target never gives the baseline whole, and its clients fail too: failing
    # verdicts (a failure proven without the baseline is no error), each said in one line.
    failed = {result.name: result.detail for result in run.results if result.status == Status.FAIL}
    assert run.error is None
    assert "completion" in failed
    assert "the target did not give the fault-free baseline whole" in failed["no_loss"]
    assert all("\n" not in detail and len(detail) <= 1000 for detail in failed.values())


@pytest.mark.asyncio
async def test_clients_capped_at_their_records_fail_completion_naming_them(api: ToxiproxyAPI, tmp_path: Path) -> None:
    """With an opaque payload there is no baseline to fetch: the checks judge the capped clients."""
    scenario = load_scenario(_write_scenario(tmp_path, DEADLINE))
    profile = DEFAULT_PROFILE.model_copy(update={"payload": "opaque"})
    async with hostile_server("endless-events") as url, new_http_client() as http:
        run = await Runner(Target(url, profile), api, http).run(scenario)
    assert run.error is None
    completion = next(result for result in run.results if result.name == "completion")
    assert completion.status == Status.FAIL
    assert completion.detail.startswith(f"c0000: records capped at {run.history.max_records} (")
    assert "c0001: records capped at" in completion.detail
    assert run.wall_seconds < DEADLINE + MARGIN
