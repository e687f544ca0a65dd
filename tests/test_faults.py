"""Every fault kind: validation, description, the slack it grants, the registry, and what it does
to a real Toxiproxy proxy."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import harness.faults
from harness.deploy.process_faults import ProcessFault
from harness.faults import FAULT_TYPES, Fault, Slack, Stage, Toxic, make_fault
from harness.history import History
from harness.toxiproxy import ToxiproxyAPI

# One valid fault of every kind, every attribute set to a value other than its default, so an
# attribute that is dropped or renamed on the way to Toxiproxy shows.
VALID: dict[str, dict[str, int]] = {
    "down": {},
    "latency": {"latency": 120, "jitter": 30},
    "bandwidth": {"rate": 7},
    "slicer": {"average_size": 64, "size_variation": 16, "delay": 250},
    "timeout": {"timeout": 1500},
    "reset_peer": {"timeout": 40},
    "limit_data": {"bytes": 4096},
    "slow_close": {"delay": 900},
    "kill": {"instance": "any", "client": 2},
    "terminate": {"instance": "all", "client": 2},
    "pause": {"instance": "any", "client": 2},
    "resume": {"instance": "all", "client": 2},
    "restart": {"instance": "any", "client": 2},
    "rolling-restart": {"instance": "all", "client": 2},  # all: the one value it takes
}
REQUIRED = {"bandwidth": {"rate"}, "slicer": {"average_size"}, "limit_data": {"bytes"}, "slow_close": {"delay"}}
TOXIC_KINDS = sorted(kind for kind, cls in FAULT_TYPES.items() if issubclass(cls, Toxic))
PROCESS_KINDS = sorted(kind for kind, cls in FAULT_TYPES.items() if issubclass(cls, ProcessFault))
NUMERIC_FIELDS = [
    (kind, key) for kind, settings in VALID.items() for key, value in settings.items() if value != str(value)
]


def assert_one_line_naming(error: pytest.ExceptionInfo[ValueError], kind: str, field: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert f"action {kind!r}" in message
    assert field in message


# --- validation -----------------------------------------------------------------------------


def test_the_table_covers_every_kind_and_every_attribute() -> None:
    assert set(VALID) == set(FAULT_TYPES)
    for kind, cls in FAULT_TYPES.items():
        assert set(VALID[kind]) == set(cls.model_fields) - {"stream", "toxicity"}, kind


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_fault_validates_with_its_settings(kind: str) -> None:
    fault = make_fault(kind, VALID[kind])
    assert type(fault) is FAULT_TYPES[kind]
    assert fault.kind == kind
    assert {key: getattr(fault, key) for key in VALID[kind]} == VALID[kind]


@pytest.mark.parametrize("kind", TOXIC_KINDS)
def test_a_toxic_takes_its_stream_and_toxicity(kind: str) -> None:
    fault = make_fault(kind, VALID[kind] | {"stream": "upstream", "toxicity": 0.25})
    assert isinstance(fault, Toxic)
    assert (fault.stream, fault.toxicity) == ("upstream", 0.25)
    assert fault.attributes() == VALID[kind]


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown action 'lag'") as error:
        make_fault("lag", {})
    assert "\n" not in str(error.value)
    assert all(kind in str(error.value) for kind in FAULT_TYPES)


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS)
def test_a_negative_value_is_refused(kind: str, field: str) -> None:
    with pytest.raises(ValueError, match="greater than") as error:
        make_fault(kind, VALID[kind] | {field: -1})
    assert_one_line_naming(error, kind, field)


@pytest.mark.parametrize("kind", TOXIC_KINDS)
@pytest.mark.parametrize(("field", "value"), [("toxicity", -0.1), ("toxicity", 1.5), ("stream", "sideways")])
def test_a_bad_stream_or_toxicity_is_refused(kind: str, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^action '{kind}': {field}: ") as error:
        make_fault(kind, VALID[kind] | {field: value})
    assert_one_line_naming(error, kind, field)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_exactly_the_required_attributes_are_required(kind: str) -> None:
    for field in VALID[kind]:
        settings = {key: value for key, value in VALID[kind].items() if key != field}
        if field in REQUIRED.get(kind, set()):
            with pytest.raises(ValueError, match="Field required") as error:
                make_fault(kind, settings)
            assert_one_line_naming(error, kind, field)
        else:
            make_fault(kind, settings)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_an_unknown_attribute_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted") as error:
        make_fault(kind, VALID[kind] | {"lateness": 5})
    assert_one_line_naming(error, kind, "lateness")


@pytest.mark.parametrize("settings", [{"latency": 100}, {"stream": "upstream"}, {"toxicity": 0.5}])
def test_down_takes_no_attributes_nor_stream(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted") as error:
        make_fault("down", settings)
    assert_one_line_naming(error, "down", next(iter(settings)))


@pytest.mark.parametrize(("average", "variation"), [(64, 64), (64, 65), (1, 1)])
def test_slicer_variation_must_be_below_the_average(average: int, variation: int) -> None:
    with pytest.raises(ValueError, match="size_variation must be smaller than average_size") as error:
        make_fault("slicer", {"average_size": average, "size_variation": variation})
    assert_one_line_naming(error, "slicer", "size_variation")
    make_fault("slicer", {"average_size": variation + 1, "size_variation": variation})


def test_slicer_average_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than 0") as error:
        make_fault("slicer", {"average_size": 0})
    assert_one_line_naming(error, "slicer", "average_size")


def test_a_fault_is_frozen() -> None:
    fault = make_fault("latency", VALID["latency"])
    with pytest.raises(ValueError, match="frozen"):
        fault.latency = 5  # type: ignore[misc]


# --- description and slack -------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(VALID) - set(PROCESS_KINDS)))
def test_describe_names_the_kind_and_its_settings(kind: str) -> None:
    description = make_fault(kind, VALID[kind]).describe()
    assert "\n" not in description
    assert description.split()[0] == kind
    for key, value in VALID[kind].items():
        assert f"{key}={value}" in description
    if kind in TOXIC_KINDS:
        assert description.endswith("(downstream)")


def test_describe_exactly() -> None:
    assert make_fault("down", {}).describe() == "down"
    assert make_fault("latency", VALID["latency"]).describe() == "latency latency=120 jitter=30 (downstream)"
    upstream = make_fault("slicer", {"average_size": 8, "stream": "upstream", "toxicity": 0.5})
    assert upstream.describe() == "slicer average_size=8 size_variation=0 delay=0 (upstream, toxicity 0.5)"
    assert make_fault("kill", {"client": 3}).describe() == "kill the instance serving client 3"
    assert make_fault("pause", {"instance": "any"}).describe() == "pause one instance"
    assert make_fault("rolling-restart", {}).describe() == "rolling-restart every instance in turn"


@pytest.mark.parametrize(("kind", "instance"), [("kill", "most"), ("rolling-restart", "any"), ("pause", 1)])
def test_a_process_fault_names_its_instance_as_serving_any_or_all(kind: str, instance: object) -> None:
    with pytest.raises(ValueError, match=f"^action '{kind}': instance: ") as error:
        make_fault(kind, {"instance": instance})
    assert_one_line_naming(error, kind, "instance")


def test_latency_with_jitter_grants_twice_the_jitter_and_the_whole_delay() -> None:
    slack = make_fault("latency", {"latency": 120, "jitter": 30}).slack()
    assert slack.heartbeat_s == pytest.approx(0.06)
    assert slack.delay_s == pytest.approx(0.15)
    steady = make_fault("latency", {"latency": 200}).slack()
    assert steady.heartbeat_s == 0  # a constant delay can still be judged, not excluded
    assert steady.heartbeat_s is not None
    assert steady.delay_s == pytest.approx(0.2)


@pytest.mark.parametrize("kind", sorted(set(VALID) - {"latency"}))
def test_every_other_kind_excludes_heartbeat_timing_and_delays_nothing(kind: str) -> None:
    slack = make_fault(kind, VALID[kind]).slack()
    assert isinstance(slack, Slack)
    assert slack.heartbeat_s is None
    assert slack.delay_s == 0


# --- the registry ----------------------------------------------------------------------------


def test_the_registry_holds_one_kind_per_module_file() -> None:
    modules = {m.name for m in pkgutil.iter_modules(harness.faults.__path__)} - {"base"}
    on_disk = {path.stem for path in Path(harness.faults.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert modules == on_disk
    assert len(modules) == len(FAULT_TYPES)
    for name in modules:
        module = importlib.import_module(f"harness.faults.{name}")
        defined = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Fault) and cls.__module__ == module.__name__
        ]
        assert len(defined) == 1, name
        assert FAULT_TYPES[defined[0].kind] is defined[0]
    assert {cls.__module__.rsplit(".", 1)[1] for cls in FAULT_TYPES.values()} == modules


def test_kind_names_are_unique_and_a_second_one_is_refused() -> None:
    assert all(cls.kind == kind for kind, cls in FAULT_TYPES.items())
    assert len({cls.kind for cls in FAULT_TYPES.values()}) == len(FAULT_TYPES)
    saved = dict(FAULT_TYPES)
    try:
        with pytest.raises(TypeError, match="two fault types are named 'latency'"):

            class _AnotherLatency(Toxic):
                kind = "latency"

    finally:
        FAULT_TYPES.clear()
        FAULT_TYPES.update(saved)


# --- against the real Toxiproxy --------------------------------------------------------------


def on(api: ToxiproxyAPI, proxy: str) -> Stage:
    return Stage(api, proxy, History(), lambda _fault, _said: None)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", TOXIC_KINDS)
async def test_a_toxic_puts_exactly_itself_on_the_proxy_and_undo_removes_it(
    api: ToxiproxyAPI, proxy: str, kind: str
) -> None:
    fault = make_fault(kind, VALID[kind] | {"stream": "upstream", "toxicity": 0.5})
    await fault.apply(on(api, proxy), "f7")
    expected = {"name": "f7", "type": kind, "stream": "upstream", "toxicity": 0.5, "attributes": VALID[kind]}
    assert await api.toxics(proxy) == [expected]
    assert (await api.proxy(proxy)).enabled is True
    await fault.undo(on(api, proxy), "f7")
    assert await api.toxics(proxy) == []


@pytest.mark.asyncio
async def test_a_toxic_goes_downstream_at_full_toxicity_by_default(api: ToxiproxyAPI, proxy: str) -> None:
    await make_fault("latency", VALID["latency"]).apply(on(api, proxy), "f0")
    [toxic] = await api.toxics(proxy)
    assert (toxic["stream"], toxic["toxicity"]) == ("downstream", 1.0)


@pytest.mark.asyncio
async def test_two_toxics_are_undone_by_name(api: ToxiproxyAPI, proxy: str) -> None:
    first, second = make_fault("latency", VALID["latency"]), make_fault("bandwidth", VALID["bandwidth"])
    await first.apply(on(api, proxy), "f1")
    await second.apply(on(api, proxy), "f2")
    await first.undo(on(api, proxy), "f1")
    assert [(toxic["name"], toxic["type"]) for toxic in await api.toxics(proxy)] == [("f2", "bandwidth")]


@pytest.mark.asyncio
async def test_down_disables_the_proxy_and_undo_enables_it(api: ToxiproxyAPI, proxy: str) -> None:
    fault = make_fault("down", {})
    await fault.apply(on(api, proxy), "f3")
    assert (await api.proxy(proxy)).enabled is False
    assert await api.toxics(proxy) == []
    await fault.undo(on(api, proxy), "f3")
    assert (await api.proxy(proxy)).enabled is True
    assert await api.toxics(proxy) == []


@pytest.mark.parametrize("slack", [{"heartbeat_s": float("nan")}, {"delay_s": float("inf")}, {"delay_s": -0.1}])
def test_slack_is_a_finite_amount_of_time(slack: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"finite|greater than or equal to 0"):
        Slack.model_validate(slack)
