"""Each shipped dialect through the real Toxiproxy, against its deterministic test server: the
catalogue scenarios that apply pass against the correct server, and each broken variant fails
the check that must catch it."""

from __future__ import annotations

import asyncio
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
_NO_END = "c0000: gave_up (gave up after 3 connection attempts; last: the body ended without a terminal event)"
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
    api: ToxiproxyAPI, dialect: str, scenarios: list[Scenario], variant: str | None = None, parallel: int = 2
) -> dict[str, ScenarioRun]:
    """The scenarios against the dialect's server (as `variant`), `parallel` side by side."""
    _name, _fields, path = DIALECTS[dialect]
    async with dialect_server(dialect, variant) as base, new_http_client() as http:
        runner = Runner(Target(base + path, profile_of(dialect)), api, http)
        runs = await run_scenarios(runner, scenarios, parallel, lambda _scenario: None, lambda _run: None)
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
    # Where heartbeat timing is judged, two at a time as the CLI runs them (this server shares the
    # harness's loop); where it is not, all at once.
    parallel = 2 if profile_of(dialect).heartbeat_interval else len(CATALOGUE)
    runs = await run_against(api, dialect, catalogue(*CATALOGUE), parallel=parallel)
    for name, run in runs.items():
        found = statuses(run)
        failed = {check: detail(run, check) for check, status in found.items() if status == Status.FAIL}
        assert failed == {}, name
        passed = {check for check, status in found.items() if status == Status.PASS}
        assert PASSING[dialect] - {"reconnect_bounds"} <= passed, (name, found)
    for name in ("network-interruption", "reset-midstream", "stall", "cut-mid-event"):
        assert statuses(runs[name])["reconnect_bounds"] == Status.PASS
    if dialect in ("openai", "anthropic"):  # they restart: judged on the final attempt, a trace id per attempt
        interrupted = runs["network-interruption"]
        restarts = "the server restarts rather than resumes (resume = false): 3 clients retried the whole request"
        assert restarts in detail(interrupted, "no_loss")
        assert detail(interrupted, "trace_propagation").startswith("each of ")


# (dialect, variant, scenario, the check that must fail, what it must say)
BROKEN = [
    ("openai", "repeat-after-retry", "network-interruption", "no_loss", "characters a broken attempt had delivered"),
    ("anthropic", "repeat-after-retry", "network-interruption", "no_loss", "characters a broken attempt had delivered"),
    ("openai", "no-sentinel", "short-answer", "completion", _NO_END),
    ("anthropic", "no-message-stop", "short-answer", "completion", _NO_END),
    ("comment-ping", "no-done", "short-answer", "completion", _NO_END),
    ("comment-ping", "late-pings", "baseline", "heartbeat_timing", "apart, expected 0.2 s"),
    ("live-feed", "resume-repeats", "network-interruption", "no_duplicates", "1 event id sent twice"),
    ("live-feed", "resume-skips", "network-interruption", "no_loss", "was due"),
]


@pytest.mark.asyncio
async def test_each_broken_variant_fails_the_check_that_must_catch_it(api: ToxiproxyAPI, tmp_path: Path) -> None:
    """All side by side: most of each is waiting for a fault or a deadline."""
    short = tmp_path / "short.toml"
    short.write_text(_SHORT)
    scenarios = {"short-answer": load_scenario(short)} | {s.name: s for s in catalogue(*CATALOGUE)}
    # each under a name of its own: the proxies of runners sharing a Toxiproxy are named by scenario
    named = [
        scenarios[name].model_copy(update={"name": f"{dialect}-{variant}"}) for dialect, variant, name, *_ in BROKEN
    ]
    variants = zip(BROKEN, named, strict=True)
    runs = await asyncio.gather(*(run_against(api, dialect, [s], variant) for (dialect, variant, *_), s in variants))
    for (dialect, variant, _name, check, said), found in zip(BROKEN, runs, strict=True):
        run = found[f"{dialect}-{variant}"]
        assert statuses(run)[check] == Status.FAIL, (dialect, variant, check)
        assert said in detail(run, check), (dialect, variant)
        if check != "completion":
            assert statuses(run)["completion"] == Status.PASS, (dialect, variant)
