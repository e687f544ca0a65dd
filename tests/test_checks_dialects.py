"""Checks on other dialects: an answer at a JSON pointer compared with the baseline, a server that
restarts rather than resumes, an endless feed; and how a profile reads an event."""

from __future__ import annotations

import json

import pytest

from harness.checks import Status
from harness.history import Baseline, Kind
from harness.profile import TargetProfile, load_profile
from harness.reading import answer_text, ends_stream, server_error
from harness.runner import Runner
from harness.scenario import CATALOGUE_DIR, load_scenario
from harness.target import Target, Timing
from tests.helpers.histories import HistoryBuilder, found

OPENAI = load_profile("openai-chat", ["deterministic=true"])
FEED = load_profile("live-feed")
HEAD = {"content-type": "text/event-stream"}


def chunk(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})


def with_profile(builder: HistoryBuilder, profile: TargetProfile) -> HistoryBuilder:
    assert builder.history.plan is not None
    builder.history.plan = builder.history.plan.model_copy(update={"profile": profile})
    return builder


def restarted(*attempts: list[str], done: bool = True, traces: list[str] | None = None) -> HistoryBuilder:
    """One client's attempts at an OpenAI-style answer, each cut but the last; the baseline "abc"."""
    builder = with_profile(HistoryBuilder(), OPENAI)
    t = 0.0
    for number, tokens in enumerate(attempts):
        trace = {"x-request-id": traces[number]} if traces else {}
        builder.connect(t, headers=HEAD | trace)
        for token in tokens:
            t += 0.01
            builder.event(t, "message", chunk(token))
        if number < len(attempts) - 1:
            builder.add(t + 0.01, Kind.ERROR, connection=builder.connection, detail="connection cut")
        elif done:
            builder.event(t + 0.01, "message", "[DONE]")
            builder.add(t + 0.02, Kind.OUTCOME, connection=builder.connection, outcome="complete")
        t += 0.1
    builder.history.baseline = Baseline(content="abc")
    return builder


# --- how a profile reads an event ----------------------------------------------------------------


def test_the_answer_is_read_at_the_profile_s_pointer_and_nothing_else_counts() -> None:
    assert answer_text(OPENAI, chunk("hi")) == "hi"
    assert answer_text(OPENAI, json.dumps({"choices": [{"delta": {"content": None}}]})) == ""
    assert answer_text(OPENAI, json.dumps({"choices": []})) == ""
    assert answer_text(OPENAI, "[DONE]") == ""


def test_a_stream_ends_on_its_sentinel_or_a_terminal_event() -> None:
    assert ends_stream(OPENAI, "message", "[DONE]")
    assert not ends_stream(OPENAI, "message", chunk("[DONE]"))
    anthropic = load_profile("anthropic-messages")
    assert ends_stream(anthropic, "message_stop", "{}")
    assert not ends_stream(anthropic, "message", "[DONE]")


@pytest.mark.parametrize(
    ("profile", "event", "data", "retryable", "message"),
    [
        (
            "openai-chat",
            "message",
            '{"error": {"message": "boom", "type": "server_error"}}',
            False,
            "server_error: boom",
        ),
        (
            "anthropic-messages",
            "error",
            '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            False,
            "overloaded_error: Overloaded",
        ),
        ("robust-stream", "error", '{"code": "busy", "message": "later", "retryable": true}', True, "busy: later"),
        ("robust-stream", "error", "not json\x1b " * 40, False, "not json\\x1b " * 20 + "…"),
    ],
)
def test_the_server_s_error_is_recognised_with_its_message_printable_and_bounded(
    profile: str, event: str, data: str, retryable: bool, message: str
) -> None:
    error = server_error(load_profile(profile), event, data)
    assert error is not None
    assert (error.retryable, error.message) == (retryable, message)


def test_an_event_is_not_an_error_without_the_name_or_the_pointer() -> None:
    assert server_error(OPENAI, "message", chunk("error")) is None
    assert server_error(OPENAI, "error", "{}") is None  # openai-chat names no error event
    assert server_error(load_profile(None), "message", '{"error": "x"}') is None


# --- no loss, for an answer at a pointer -----------------------------------------------------------


def test_the_final_attempt_s_answer_is_the_one_kept_and_judged() -> None:
    status, detail, evidence = found("no_loss", restarted(["a", "b"], ["a", "b", "c"]).history)
    assert status == Status.PASS
    assert detail == (
        "1 answer re-assembled whole, in order, and equal to the fault-free baseline; the server restarts rather"
        " than resumes (resume = false): 1 client retried the whole request and kept the final attempt's answer"
    )
    assert evidence == {"clients_verified": 1, "compared_with_baseline": True, "clients_restarted": 1}


def test_a_broken_attempt_repeated_in_the_answer_kept_fails() -> None:
    status, detail, _evidence = found("no_loss", restarted(["a", "b"], ["a", "b", "a", "b", "c"]).history)
    assert (status, detail) == (
        Status.FAIL,
        "c0: the answer kept repeats 2 characters a broken attempt had delivered before the whole answer",
    )


def test_a_broken_attempt_that_showed_a_wrong_answer_fails() -> None:
    assert found("no_loss", restarted(["x"], ["a", "b", "c"]).history)[1] == (
        "c0: attempt #0 delivered an answer that is not a prefix of the fault-free baseline"
    )


def test_a_finished_answer_other_than_the_baseline_fails_and_an_unfinished_one_may_be_a_prefix() -> None:
    assert found("no_loss", restarted(["a", "c"]).history)[1] == "c0: the answer differs from the fault-free baseline"
    assert found("no_loss", restarted(["a", "b"]).history)[1] == "c0: the answer differs from the fault-free baseline"
    assert found("no_loss", restarted(["a", "b"], done=False).history)[0] == Status.PASS


def test_an_answer_no_fixed_request_reproduces_is_not_compared() -> None:
    builder = with_profile(restarted(["a"]), load_profile("openai-chat"))
    assert found("no_loss", builder.history) == (
        Status.NOT_APPLICABLE,
        "the profile does not say the target answers a fixed request the same way every time (deterministic ="
        " false): there is no answer to compare with",
        {},
    )


# --- a server that restarts: ids within an attempt, a trace id per attempt ----------------------------


def test_ids_sent_again_by_a_new_attempt_are_not_duplicates_but_within_one_they_are() -> None:
    builder = with_profile(HistoryBuilder(), OPENAI)
    for connection in range(2):
        builder.connect(connection * 1.0, headers=HEAD)
        for n in range(2):
            builder.event(connection + 0.1 * (n + 1), "message", chunk("a"), event_id=str(n))
    assert found("no_duplicates", builder.history)[:2] == (
        Status.PASS,
        "4 event ids and 0 content seqs, none repeated within an attempt; the server restarts rather than resumes"
        " (resume = false)",
    )
    builder.event(1.5, "message", chunk("a"), event_id="1")
    assert found("no_duplicates", builder.history)[1] == "c0#1: 1 event id sent twice, first '1'"


def test_each_attempt_of_a_server_that_restarts_has_its_own_trace_id() -> None:
    assert found("trace_propagation", restarted(["a"], ["a", "b", "c"], traces=["r1", "r2"]).history) == (
        Status.PASS,
        "each of 2 attempts had its own trace id: the server restarts rather than resumes (resume = false)",
        {"attempts": 2},
    )
    assert found("trace_propagation", restarted(["a"], ["a", "b", "c"], traces=["r1", "r1"]).history)[:2] == (
        Status.FAIL,
        "trace id 'r1' on 2 attempts",
    )
    assert found("trace_propagation", restarted(["a", "b", "c"]).history)[:2] == (
        Status.NOT_APPLICABLE,
        "the server assigned no trace id (no x-request-id header in a 200 response)",
    )


# --- an endless feed ------------------------------------------------------------------------------


def feed(*connections: list[int], quiet_at_end: float = 0.0, outcome: str = "deadline") -> HistoryBuilder:
    """A client watching a feed to its deadline at 10 s: each connection reads the ids given."""
    builder = with_profile(HistoryBuilder(), FEED)
    start = 0.0
    for ids in connections:
        builder.connect(start, headers=HEAD)
        for n, event_id in enumerate(ids):
            builder.event(start + 0.01 * (n + 1), "message", "{}", event_id=str(event_id))
        start += 1.0
    builder.add(10.0 - quiet_at_end - 0.01, Kind.BYTES, connection=builder.connection, nbytes=7)
    builder.add(10.0, Kind.OUTCOME, connection=builder.connection, outcome=outcome, detail="no terminal event")
    return builder


def test_a_feed_completes_when_every_client_is_still_receiving_at_its_deadline() -> None:
    assert found("completion", feed([1, 2], [3]).history)[:2] == (
        Status.PASS,
        "all 1 client still connected and receiving at their deadline (an endless feed)",
    )


def test_a_feed_client_not_connected_or_not_receiving_at_its_deadline_fails() -> None:
    assert found("completion", feed([1], outcome="gave_up").history)[1] == (
        "c0: not connected at its deadline: gave_up (no terminal event)"
    )
    assert found("completion", feed([1], quiet_at_end=2.0).history)[1] == (
        "c0: nothing received for the last 2.010 s before its deadline (threshold 1 s)"
    )
    cut = feed([1])
    cut.add(9.5, Kind.ERROR, connection=0, detail="connection cut")
    assert found("completion", cut.ordered())[1].startswith("c0: not connected at its deadline")


def test_a_feed_loses_nothing_when_its_ids_run_on_across_reconnections() -> None:
    assert found("no_loss", feed([1, 2], [3, 4]).history) == (
        Status.PASS,
        "1 client received 4 consecutive event ids across their reconnections (an endless feed)",
        {"clients_verified": 1, "event_ids": 4},
    )
    assert found("no_loss", feed([1, 2], [4]).history)[1] == "c0: event id 4 came after 2, where 3 was due"
    builder = feed([1])
    builder.event(0.5, "message", "{}", event_id="k-7")
    assert found("no_loss", builder.history)[:2] == (
        Status.NOT_APPLICABLE,
        "the feed's event ids are not numbers (first: 'k-7'): a gap cannot be seen",
    )


def test_a_feed_has_no_duration_cap() -> None:
    assert found("duration_cap", feed([1]).history)[:2] == (
        Status.NOT_APPLICABLE,
        "an endless feed has no cap: each client watches it to its deadline",
    )


# --- browser scenarios stay with the reference contract -------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("profile", "fields", "why"),
    [
        ("openai-chat", [], "this target is asked with a POST"),
        ("live-feed", [], "this target's data is not its JSON"),
        ("comment-heartbeats", [], "this target's data is not its JSON"),
        (None, ["answer=/text"], "this target's data is not its JSON"),
        (None, ["resume=false"], "this target does not resume"),
        (None, ["endless=true"], "this target is an endless feed"),
        (None, ["terminal_data=[DONE]"], "this target's stream ends without a named event"),
        (None, ["ends_on_close=true"], "this target's stream ends without a named event"),
        (None, ["error_pointer=/error"], "this target's errors are not its error event"),
    ],
)
async def test_a_browser_scenario_is_not_applicable_to_another_dialect(
    profile: str | None, fields: list[str], why: str
) -> None:
    scenario = load_scenario(CATALOGUE_DIR / "browser-stall.toml")
    target = Target("http://127.0.0.1:9/s", load_profile(profile, fields))
    runner = Runner(target, None, None)  # type: ignore[arg-type]
    runner._timing = Timing(heartbeat=0.25, silence=1.0, cap=6.0)
    run = await runner.run(scenario)
    assert run.error is None
    assert {result.status for result in run.results} == {Status.NOT_APPLICABLE}
    assert {result.detail for result in run.results} == {f"browser clients speak only the reference contract: {why}"}


@pytest.mark.asyncio
async def test_a_scenario_proving_the_cap_s_reason_is_not_applicable_where_streams_do_not_say_why() -> None:
    scenario = load_scenario(CATALOGUE_DIR / "duration-cap.toml")
    runner = Runner(Target("http://127.0.0.1:9/s", load_profile("anthropic-messages")), None, None)  # type: ignore[arg-type]
    runner._timing = Timing(heartbeat=None, silence=30.0, cap=120.0)
    run = await runner.run(scenario)
    assert {result.status for result in run.results} == {Status.NOT_APPLICABLE}
    assert run.results[0].detail == (
        "the scenario proves streams are cut at the cap (reason duration_cap), and this target's streams end without"
        " saying why"
    )


def test_a_feed_s_completion_names_every_client_and_judges_the_threshold_inclusively() -> None:
    assert found("completion", with_profile(HistoryBuilder(), FEED).history) == (
        Status.FAIL,
        "no client ran",
        {"outcomes": {}, "problems": 1},
    )
    assert found("completion", feed([1], quiet_at_end=0.99).history)[2] == {"outcomes": {"deadline": 1}, "problems": 1}
    silent = with_profile(HistoryBuilder(), FEED)
    silent.connect(8.0, headers=HEAD, body_after=None)  # answered, then not a byte
    silent.add(10.0, Kind.OUTCOME, connection=0, outcome="deadline", detail="no terminal event")
    assert found("completion", silent.history)[1] == (
        "c0: nothing received for the last 2.000 s before its deadline (threshold 1 s)"
    )
    unfinished = with_profile(HistoryBuilder(), FEED)
    unfinished.connect(0.0, headers=HEAD)
    assert found("completion", unfinished.history)[1] == "c0: not connected at its deadline: unfinished ()"


def test_a_stream_that_only_ended_is_judged_for_its_empty_answer() -> None:
    builder = restarted([])
    assert found("no_loss", builder.history)[1] == "c0: the answer differs from the fault-free baseline"


def test_a_feed_s_id_gaps_are_judged_for_every_client_and_odd_ids_quoted_short() -> None:
    builder = feed([])
    other = builder.another("c1")
    other.connect(0.0, headers=HEAD)
    other.event(0.1, "message", "{}", event_id="1")
    other.event(0.2, "message", "{}", event_id="3")
    assert found("no_loss", builder.ordered())[1] == "c1: event id 3 came after 1, where 2 was due"
    assert found("no_loss", feed([]).history)[:2] == (Status.NOT_APPLICABLE, "no client received an event with an id")
    odd = feed([1])
    odd.event(0.5, "message", "{}", event_id="k" * 60)
    assert (
        found("no_loss", odd.history)[1]
        == f"the feed's event ids are not numbers (first: {'k' * 40!r}): a gap cannot be seen"
    )
