"""A scenario resolved against a target's timing: seconds everywhere, sweeps expanded per client,
the timeline in order, and a plan that survives a JSON round trip."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import ConfigurationError
from harness.plan import TEARDOWN_MARGIN_SECONDS, Plan, make_plan, steps
from harness.profile import DEFAULT_PROFILE, load_profile
from harness.request import RequestShape
from harness.scenario import Scenario
from harness.target import Target, Timing

TIMING = Timing(heartbeat=0.25, silence=1.0, cap=6.0)
TARGET = Target("http://127.0.0.1:8000/stream/search", DEFAULT_PROFILE)


def plan_of(scenario: dict[str, Any], target: Target = TARGET, timing: Timing = TIMING) -> Plan:
    return make_plan(Scenario.model_validate({"name": "s", "description": "d"} | scenario), target, timing)


def test_every_duration_is_resolved_to_seconds_against_the_target() -> None:
    plan = plan_of(
        {
            "clients": {"count": 3, "stagger": "5ms", "deadline": "cap + 10s"},
            "faults": [{"at": "silence + 0.5s", "for": "2 heartbeats", "action": "down"}],
            "expect": {"heartbeat_tolerance": "40ms", "cap_tolerance": "1 heartbeat"},
        }
    )
    assert (plan.clients.stagger, plan.clients.deadline) == (0.005, 16.0)
    (fault,) = plan.faults
    assert (fault.fault_id, fault.fault.kind, fault.at, fault.until) == ("f0", "down", 1.5, 2.0)
    assert (plan.expect.heartbeat_tolerance, plan.expect.cap_tolerance) == (0.04, 0.25)
    assert plan.timing == TIMING
    assert plan.hard_deadline == pytest.approx(16.0 + 3 * 0.005 + TEARDOWN_MARGIN_SECONDS)


def test_a_fault_without_an_end_lasts_to_the_end_and_is_never_undone_by_a_step() -> None:
    plan = plan_of({"faults": [{"at": "1s", "action": "latency", "attributes": {"latency": 50}}]})
    assert plan.faults[0].until is None
    assert [(step.at, step.applies) for step in steps(plan.timeline())] == [(1.0, True)]


def test_the_timeline_is_in_time_order_and_removals_go_before_additions_at_one_instant() -> None:
    plan = plan_of(
        {
            "faults": [
                {"at": "2s", "for": "1s", "action": "down"},
                {"at": 0, "for": "1s", "action": "latency", "attributes": {"latency": 10}},
                {"at": "1s", "for": "1s", "action": "bandwidth", "attributes": {"rate": 0}},
            ]
        }
    )
    assert [fault.fault_id for fault in plan.timeline()] == ["f1", "f2", "f0"]
    moves = [(step.at, step.fault.fault_id, step.applies) for step in steps(plan.timeline())]
    # f1 at 0 s goes in before the clients start: it is no step
    assert moves == [(1.0, "f1", False), (1.0, "f2", True), (2.0, "f2", False), (2.0, "f0", True), (3.0, "f0", False)]


def test_a_sweep_gives_each_client_its_own_value_and_fault_ids() -> None:
    plan = plan_of(
        {
            "faults": [
                {
                    "at": 0,
                    "for": "0.2s",
                    "action": "limit_data",
                    "sweep": {"attribute": "bytes", "start": 10, "stop": 20, "step": 3, "lanes": 50},
                },
                {"at": "1s", "for": "0.1s", "action": "down"},
            ]
        }
    )
    assert plan.sweep is not None
    assert (plan.sweep.fault_id, plan.sweep.values, plan.sweep.lanes) == ("f0", (10, 13, 16, 19), 4)
    assert plan.clients.count == 4
    for client, value in enumerate((10, 13, 16, 19)):
        swept, other = plan.timeline(client)
        assert swept.fault_id == f"f0-c{client:04d}"
        assert swept.fault.model_dump()["bytes"] == value
        assert (other.fault_id, other.fault.kind) == (f"f1-c{client:04d}", "down")
    # each lane runs its clients one after another, each client under its whole deadline
    assert plan.hard_deadline == pytest.approx(16.0 + TEARDOWN_MARGIN_SECONDS)


def test_sweep_lanes_share_out_the_clients() -> None:
    sweep = {"attribute": "bytes", "start": 0, "stop": 10, "lanes": 4}
    plan = plan_of({"faults": [{"at": 0, "action": "limit_data", "sweep": sweep}]})
    assert plan.sweep is not None
    assert plan.sweep.lanes == 4
    assert plan.hard_deadline == pytest.approx(16.0 * 3 + TEARDOWN_MARGIN_SECONDS)  # ceil(10 / 4) clients a lane


def test_a_sweep_value_the_fault_refuses_is_a_configuration_error_before_the_run() -> None:
    # size_variation must stay below average_size: 0 (checked when the file is read) is fine, 5 is not
    sweep = {"attribute": "size_variation", "start": 0, "stop": 10}
    fault = {"at": 0, "action": "slicer", "attributes": {"average_size": 5}, "sweep": sweep}
    with pytest.raises(ConfigurationError, match=r"sweep value 5: action 'slicer'.*size_variation must be smaller"):
        plan_of({"faults": [fault]})


def test_the_request_carries_the_profile_s_parameters_and_then_the_scenario_s_own() -> None:
    clients = {"query": "q", "max_tokens": 7, "extra_params": {"lang": "en"}}
    assert plan_of({"clients": clients}).request.params == {"query": "q", "max_tokens": "7", "lang": "en"}
    bare = Target(TARGET.url, DEFAULT_PROFILE.model_copy(update={"request": RequestShape(params={})}))
    assert plan_of({"clients": clients}, target=bare).request.params == {"lang": "en"}


def test_a_scenario_needing_a_timing_the_target_does_not_say_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs the target's cap value"):
        plan_of({}, timing=Timing(heartbeat=0.25, silence=1.0))


def test_headers_never_enter_the_plan() -> None:
    secret = Target(TARGET.url, DEFAULT_PROFILE, {"Authorization": "Bearer s3cret"})
    assert "s3cret" not in plan_of({}, target=secret).model_dump_json()
    profile = load_profile("openai-chat", ["request.headers.x-api-key=s3cret-too"])
    plan = plan_of({"request": {"headers": {"X-Scenario": "s3cret-three"}}}, target=Target(TARGET.url, profile))
    assert plan.request.headers == {"x-api-key": "s3cret-too", "X-Scenario": "s3cret-three"}
    assert "s3cret" not in plan.model_dump_json()


def test_a_plan_survives_a_json_round_trip_with_every_fault_kind() -> None:
    faults = [
        {"at": 0, "for": "1s", "action": "down"},
        {"at": "1s", "action": "latency", "attributes": {"latency": 100, "jitter": 20}, "toxicity": 0.5},
        {"at": "1s", "action": "bandwidth", "attributes": {"rate": 0}, "stream": "upstream"},
        {"at": "1s", "action": "slicer", "attributes": {"average_size": 8, "size_variation": 2, "delay": 10}},
        {"at": "1s", "action": "timeout", "attributes": {"timeout": 100}},
        {"at": "1s", "action": "reset_peer"},
        {"at": "1s", "action": "slow_close", "attributes": {"delay": 10}},
    ]
    plan = plan_of({"faults": faults, "expect": {"checks": ["no_loss", "completion"], "min_reconnects": 1}})
    restored = Plan.model_validate_json(plan.model_dump_json())
    assert restored == plan
    assert restored.faults[1].fault.slack() == plan.faults[1].fault.slack()
    assert restored.expect.checks == ("no_loss", "completion")


def test_a_fault_that_lasts_no_time_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="fault f0 lasts no time"):
        plan_of({"faults": [{"at": "1s", "for": 0, "action": "bandwidth", "attributes": {"rate": 0}}]})


@pytest.mark.parametrize(
    ("second", "refused"),
    [({"at": "1.5s", "for": "1s"}, True), ({"at": "0.5s"}, True), ({"at": "2s", "for": "1s"}, False)],
)
def test_two_downs_at_once_are_refused(second: dict[str, Any], refused: bool) -> None:
    faults = [{"at": "1s", "for": "1s", "action": "down"}, {"action": "down", **second}]
    if refused:
        with pytest.raises(ConfigurationError, match="faults f0 and f1 take the link down at once"):
            plan_of({"faults": faults})
    else:
        assert len(plan_of({"faults": faults}).faults) == 2


def test_a_plan_refuses_numbers_that_are_not_finite() -> None:
    plan = plan_of({})
    with pytest.raises(ValueError, match="finite"):
        Plan.model_validate_json(plan.model_dump_json().replace('"cap_tolerance":0.5', '"cap_tolerance":NaN'))


def test_a_plan_against_another_dialect_survives_a_json_round_trip_without_its_headers() -> None:
    profile = load_profile("anthropic-messages", ["deterministic=true"])
    plan = plan_of({"clients": {"query": "q", "max_tokens": 5}}, target=Target(TARGET.url, profile))
    assert plan.request.body is not None
    assert plan.request.headers == {"anthropic-version": "2023-06-01"}
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again.request.headers == again.profile.request.headers == {}
    assert again.model_copy(update={"request": plan.request, "profile": plan.profile}) == plan
    assert (again.request.method, again.request.body, again.profile.terminal_events) == (
        "POST",
        plan.request.body,
        ("message_stop",),
    )
