"""The plan: a scenario resolved once against the target's timing, frozen and typed.

Everything the runner executes and the checks judge is here, in seconds: the fault timeline,
deadlines, stagger, tolerances, the request, sweep lanes and expectations. The runner plays a
plan, the history stores it (it round-trips through JSON), and checks read it beside the
history; nothing after planning reads a scenario file or resolves a duration again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator

from harness.durations import resolve
from harness.errors import ConfigurationError
from harness.faults import Fault, make_fault
from harness.profile import TargetProfile
from harness.request import Request, resolve_request
from harness.target import Target, Timing

if TYPE_CHECKING:
    from harness.scenario import Fault as ScenarioFault
    from harness.scenario import Scenario

# How long past its clients' deadlines a scenario may take to stop them and heal its faults.
TEARDOWN_MARGIN_SECONDS = 10.0
# How often the harness (and each browser page) samples its own event-loop lag.
LAG_SAMPLE_SECONDS = 0.05
# Clients reconnect at most this long after a failure: a scenario's outage is short.
BACKOFF_MAX_SECONDS = 1.0


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _fault_from_json(value: Any) -> Fault:
    if isinstance(value, Fault):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("action"), str):
        raise ValueError("a planned fault is an object with its action")
    settings = dict(value)
    return make_fault(settings.pop("action"), settings)


def _fault_to_json(fault: Fault) -> dict[str, Any]:
    return {"action": fault.kind, **fault.model_dump()}


class PlannedFault(_Frozen):
    """One fault of the timeline: applied `at` seconds after the timeline starts, undone at
    `until` (None: kept to the end)."""

    fault_id: str
    fault: Annotated[Fault, PlainValidator(_fault_from_json), PlainSerializer(_fault_to_json)]
    at: float
    until: float | None


class Step(NamedTuple):
    at: float
    applies: bool  # False: the fault is undone
    fault: PlannedFault


class ClientPlan(_Frozen):
    kind: Literal["http", "browser"]
    count: int
    stagger: float
    deadline: float
    max_attempts: int
    backoff_max: float = BACKOFF_MAX_SECONDS


class SweepPlan(_Frozen):
    """Client i runs alone on one of `lanes` proxies, with `values[i]` as `attribute` of `fault_id`."""

    fault_id: str
    attribute: str
    values: tuple[int, ...]
    lanes: int


class Expectations(_Frozen):
    checks: tuple[str, ...]
    outcome: Literal["complete", "error"]
    reason: Literal["finished", "duration_cap"] | None
    min_reconnects: int | None
    max_reconnects: int | None
    heartbeat_tolerance: float
    cap_tolerance: float


class Plan(_Frozen):
    scenario: str
    description: str
    profile: TargetProfile
    timing: Timing
    request: Request
    clients: ClientPlan
    faults: tuple[PlannedFault, ...]
    sweep: SweepPlan | None
    expect: Expectations
    hard_deadline: float  # the whole scenario's, teardown included
    lag_sample_seconds: float = LAG_SAMPLE_SECONDS

    @property
    def target(self) -> str:
        return self.request.url

    def timeline(self, client: int | None = None) -> tuple[PlannedFault, ...]:
        """The faults one proxy plays, in the order they start. For a sweep, client `client`'s:
        the swept fault with that client's value, and fault ids of that client's own."""
        faults = self.faults if client is None else tuple(self._client_fault(f, client) for f in self.faults)
        return tuple(sorted(faults, key=lambda fault: fault.at))

    def _client_fault(self, planned: PlannedFault, client: int) -> PlannedFault:
        fault = planned.fault
        if self.sweep is not None and planned.fault_id == self.sweep.fault_id:
            settings = fault.model_dump() | {self.sweep.attribute: self.sweep.values[client]}
            fault = make_fault(fault.kind, settings)
        return planned.model_copy(update={"fault_id": f"{planned.fault_id}-c{client:04d}", "fault": fault})


def steps(timeline: tuple[PlannedFault, ...]) -> list[Step]:
    """When each fault goes in and comes out, in time order; at one instant, removals first.
    Faults due at 0 s are not steps: they go in before any client starts."""
    moves = [Step(f.at, True, f) for f in timeline if f.at > 0]
    moves += [Step(f.until, False, f) for f in timeline if f.until is not None]
    return sorted(moves, key=lambda step: (step.at, step.applies))


def make_plan(scenario: Scenario, target: Target, timing: Timing) -> Plan:
    """Resolve `scenario` against what `target` advertises; ConfigurationError when it cannot be."""
    clients = scenario.clients
    deadline = resolve(clients.deadline, timing)
    stagger = resolve(clients.stagger, timing)
    count = scenario.client_count
    faults = tuple(_planned(index, fault, timing) for index, fault in enumerate(scenario.faults))
    _check_timeline(scenario.name, faults)
    sweep = _sweep_plan(scenario, faults)
    # A sweep's lanes run their clients one after another; other clients start staggered.
    hard_deadline = deadline + stagger * count if sweep is None else deadline * math.ceil(count / sweep.lanes)
    expect = scenario.expect
    return Plan(
        scenario=scenario.name,
        description=scenario.description,
        profile=target.profile,
        timing=timing,
        request=_request(scenario, target),
        clients=ClientPlan(
            kind=clients.kind, count=count, stagger=stagger, deadline=deadline, max_attempts=clients.max_attempts
        ),
        faults=faults,
        sweep=sweep,
        expect=Expectations(
            checks=expect.checks,
            outcome=expect.outcome,
            reason=expect.reason,
            min_reconnects=expect.min_reconnects,
            max_reconnects=expect.max_reconnects,
            heartbeat_tolerance=resolve(expect.heartbeat_tolerance, timing),
            cap_tolerance=resolve(expect.cap_tolerance, timing),
        ),
        hard_deadline=hard_deadline + TEARDOWN_MARGIN_SECONDS,
    )


def _planned(index: int, fault: ScenarioFault, timing: Timing) -> PlannedFault:
    at = resolve(fault.at, timing)
    until = at + resolve(fault.duration, timing) if fault.duration is not None else None
    return PlannedFault(fault_id=f"f{index}", fault=fault.build(), at=at, until=until)


def _check_timeline(scenario: str, faults: tuple[PlannedFault, ...]) -> None:
    """Refuse what the nemesis cannot play faithfully: a fault that lasts no time (its removal
    would come before it), and two `down`s at once (the first to end would bring the link up)."""
    for fault in faults:
        if fault.until is not None and fault.until <= fault.at:
            raise ConfigurationError(f"scenario {scenario}: fault {fault.fault_id} lasts no time ('for' is 0)")
    downs = [fault for fault in faults if fault.fault.kind == "down"]
    for index, first in enumerate(downs):
        for second in downs[index + 1 :]:
            if _overlap(first, second):
                raise ConfigurationError(
                    f"scenario {scenario}: faults {first.fault_id} and {second.fault_id} take the link down at once"
                )


def _overlap(first: PlannedFault, second: PlannedFault) -> bool:
    first_end, second_end = first.until or math.inf, second.until or math.inf
    return first.at < second_end and second.at < first_end


def _sweep_plan(scenario: Scenario, faults: tuple[PlannedFault, ...]) -> SweepPlan | None:
    swept = next(((index, fault.sweep) for index, fault in enumerate(scenario.faults) if fault.sweep), None)
    if swept is None:
        return None
    index, sweep = swept
    planned = faults[index]
    for value in sweep.values():  # a value the fault refuses is a problem now, not mid-run
        try:
            make_fault(planned.fault.kind, planned.fault.model_dump() | {sweep.attribute: value})
        except ValueError as error:
            raise ConfigurationError(f"scenario {scenario.name}: sweep value {value}: {error}") from None
    values = tuple(sweep.values())
    return SweepPlan(
        fault_id=planned.fault_id, attribute=sweep.attribute, values=values, lanes=min(sweep.lanes, len(values))
    )


def _request(scenario: Scenario, target: Target) -> Request:
    """The profile's request shape with the scenario's overrides, for the scenario's query and
    answer length, plus its extra parameters."""
    clients = scenario.clients
    shape = scenario.request.over(target.profile.request, scenario.name)
    return resolve_request(shape, target.url, clients.query, clients.max_tokens, dict(clients.extra_params))
