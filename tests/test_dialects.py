"""Each shipped dialect through the real Toxiproxy, against its deterministic test server: the
catalogue scenarios that apply pass against the correct server, and each broken variant fails
the check that must catch it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import Status
from harness.profile import TargetProfile, load_profile
from harness.results import ScenarioRun
from harness.runner import Runner
from harness.scenario import Scenario, find_scenarios, load_scenario
from harness.schedule import run_scenarios
from harness.target import Target
from harness.toxiproxy import ToxiproxyAPI
from harness.transport import new_http_client
from tests.helpers.dialect_servers import PING_SECONDS, dialect_server

CATALOGUE = ["baseline", "network-interruption", "reset-midstream", "stall", "cut-mid-event"]
# The tests' timings, set as `-P` sets them: the shipped ones are a production server's.
_FAST = ["silence_threshold=0.6", "stream_max_seconds=15"]
_PINGS = [f"heartbeat_interval={PING_SECONDS}"]
DIALECTS = {
    # dialect: (shipped profile, its fields for the tests, the path it is asked at)
    "openai": ("openai-chat", [*_FAST, "deterministic=true"], "/v1/chat/completions"),
    "anthropic": ("anthropic-messages", [*_FAST, "deterministic=true"], "/v1/messages"),
    "comment-ping": ("comment-heartbeats", [*_FAST, *_PINGS], "/stream"),
    "live-feed": ("live-feed", ["silence_threshold=0.6", "stream_max_seconds=0.5", *_PINGS], "/events"),
}
# The checks each dialect must pass (the others are not applicable to it, saying why).
PASSING = {
    "openai": {"headers", "no_loss", "trace_propagation", "completion", "reconnect_bounds", "duration_cap"},
    "anthropic": {"headers", "no_loss", "trace_propagation", "completion", "reconnect_bounds", "duration_cap"},
    "comment-ping": {"headers", "heartbeat_timing", "trace_propagation", "completion", "reconnect_bounds"},
    "live-feed": {"headers", "heartbeat_timing", "no_duplicates", "no_loss", "completion", "reconnect_bounds"},
}
_SHORT = """
name = "short-answer"
description = "One client, a short answer, three attempts at most."
[clients]
max_tokens = 40
max_attempts = 3
[expect]
max_reconnects = 0
"""


def profile_of(dialect: str) -> TargetProfile:
    name, fields, _path = DIALECTS[dialect]
    return load_profile(name, fields)


async def run_against(
    api: ToxiproxyAPI, dialect: str, scenarios: list[Scenario], variant: str | None = None
) -> dict[str, ScenarioRun]:
    """The scenarios side by side against the dialect's server (as `variant`)."""
    _name, _fields, path = DIALECTS[dialect]
    async with dialect_server(dialect, variant) as base, new_http_client() as http:
        runner = Runner(Target(base + path, profile_of(dialect)), api, http)
        runs = await run_scenarios(runner, scenarios, len(scenarios), lambda _scenario: None, lambda _run: None)
    return {run.name: run for run in runs}


def catalogue(*names: str) -> list[Scenario]:
    return [load_scenario(path) for path in find_scenarios(list(names))]


def statuses(run: ScenarioRun) -> dict[str, Status]:
    assert run.error is None, run.error
    return {result.name: result.status for result in run.results}


def detail(run: ScenarioRun, check: str) -> str:
    return next(result.detail for result in run.results if result.name == check)


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_the_catalogue_passes_against_the_correct_server(api: ToxiproxyAPI, dialect: str) -> None:
    runs = await run_against(api, dialect, catalogue(*CATALOGUE))
    for name, run in runs.items():
        found = statuses(run)
        failed = {check: detail(run, check) for check, status in found.items() if status == Status.FAIL}
        assert failed == {}, name
        passed = {check for check, status in found.items() if status == Status.PASS}
        assert PASSING[dialect] - {"reconnect_bounds"} <= passed, (name, found)
    for name in ("network-interruption", "reset-midstream", "stall", "cut-mid-event"):
        assert statuses(runs[name])["reconnect_bounds"] == Status.PASS


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_a_server_that_restarts_is_judged_on_its_final_attempt(api: ToxiproxyAPI, dialect: str) -> None:
    run = (await run_against(api, dialect, catalogue("network-interruption")))["network-interruption"]
    assert statuses(run)["no_loss"] == Status.PASS
    assert "the server restarts rather than resumes (resume = false): 3 clients retried the whole request" in detail(
        run, "no_loss"
    )
    assert detail(run, "trace_propagation").startswith("each of ")
    assert "attempts had its own trace id" in detail(run, "trace_propagation")


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_an_answer_repeated_after_a_retry_fails_no_loss(api: ToxiproxyAPI, dialect: str) -> None:
    run = (await run_against(api, dialect, catalogue("network-interruption"), "repeat-after-retry"))[
        "network-interruption"
    ]
    assert statuses(run)["no_loss"] == Status.FAIL
    assert "characters a broken attempt had delivered before the whole answer" in detail(run, "no_loss")
    assert statuses(run)["completion"] == Status.PASS


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("dialect", "variant"), [("openai", "no-sentinel"), ("anthropic", "no-message-stop"), ("comment-ping", "no-done")]
)
async def test_a_stream_without_its_end_fails_completion(
    api: ToxiproxyAPI, tmp_path: Path, dialect: str, variant: str
) -> None:
    scenario = tmp_path / "short.toml"
    scenario.write_text(_SHORT)
    run = (await run_against(api, dialect, [load_scenario(scenario)], variant))["short-answer"]
    assert statuses(run)["completion"] == Status.FAIL
    assert detail(run, "completion") == (
        "c0000: gave_up (gave up after 3 connection attempts; last: the body ended without a terminal event)"
    )


@pytest.mark.asyncio
async def test_late_pings_fail_heartbeat_timing(api: ToxiproxyAPI) -> None:
    run = (await run_against(api, "comment-ping", catalogue("baseline"), "late-pings"))["baseline"]
    assert statuses(run)["heartbeat_timing"] == Status.FAIL
    assert "apart, expected 0.2 s" in detail(run, "heartbeat_timing")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("variant", "check", "said"),
    [
        ("resume-repeats", "no_duplicates", "event ids sent twice"),
        ("resume-skips", "no_loss", "was due"),
    ],
)
async def test_a_feed_that_resumes_wrong_fails(api: ToxiproxyAPI, variant: str, check: str, said: str) -> None:
    run = (await run_against(api, "live-feed", catalogue("network-interruption"), variant))["network-interruption"]
    assert statuses(run)[check] == Status.FAIL
    assert said in detail(run, check)
    assert statuses(run)["completion"] == Status.PASS
