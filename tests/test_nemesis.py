"""The nemesis plays a fault timeline on a real Toxiproxy proxy while the clients run: initial
faults before the clients, the rest in time order (removals first at one instant), every fault
recorded, and everything healed on every way out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.errors import EnvironmentProblem
from harness.faults import FaultNote, Stage, make_fault
from harness.history import NEMESIS, History, Kind
from harness.nemesis import Nemesis
from harness.plan import PlannedFault
from harness.toxiproxy import ToxicSpec, ToxiproxyAPI, ToxiproxyError

# asyncio.sleep may wake a timer a clock tick early; no upper bound is ever asserted.
EARLY = 0.01


def planned(fault_id: str, kind: str, at: float, until: float | None = None, **settings: Any) -> PlannedFault:
    return PlannedFault(fault_id=fault_id, fault=make_fault(kind, settings), at=at, until=until)


def moves(history: History) -> list[tuple[str, str]]:
    """The nemesis's records as (start|end, fault id), in the order they were made."""
    names = {Kind.FAULT_START.value: "start", Kind.FAULT_END.value: "end"}
    return [(names[r.kind], r.event_id) for r in history.of_kind(Kind.FAULT_START, Kind.FAULT_END)]


def started(history: History, fault_id: str) -> bool:
    return ("start", fault_id) in moves(history)


async def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    async with asyncio.timeout(deadline):
        while not condition():
            await asyncio.sleep(0.005)


# --- the real Toxiproxy ----------------------------------------------------------------------


async def toxic_names(api: ToxiproxyAPI, proxy: str) -> list[str]:
    return sorted(toxic["name"] for toxic in await api.toxics(proxy))


async def assert_healed(api: ToxiproxyAPI, proxy: str) -> None:
    assert await api.toxics(proxy) == []
    assert (await api.proxy(proxy)).enabled is True


# --- initial faults --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_apply_initial_applies_exactly_the_faults_at_zero(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()
    timeline = (
        planned("f0", "latency", 0.0, 0.5, latency=100),
        planned("f1", "down", 0.0),
        planned("f2", "bandwidth", 0.05, rate=1),
    )
    nemesis = Nemesis(api, history, proxy, timeline)
    try:
        await nemesis.apply_initial()
        assert await toxic_names(api, proxy) == ["f0"]
        assert (await api.proxy(proxy)).enabled is False
        assert sorted(moves(history)) == [("start", "f0"), ("start", "f1")]
    finally:
        await nemesis.heal()
    await assert_healed(api, proxy)
    assert sorted(moves(history)[2:]) == [("end", "f0"), ("end", "f1")]


@pytest.mark.asyncio
async def test_faults_at_zero_are_in_before_the_clients_start(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()
    timeline = (
        planned("f0", "slicer", 0.0, average_size=10),
        planned("f1", "down", 0.0, 0.3),
        planned("f2", "latency", 0.3, latency=5),
    )
    seen: dict[str, Any] = {}

    async def clients() -> None:
        seen["toxics"] = await toxic_names(api, proxy)
        seen["enabled"] = (await api.proxy(proxy)).enabled
        seen["moves"] = moves(history)

    await Nemesis(api, history, proxy, timeline).alongside(clients())
    assert seen["toxics"] == ["f0"]
    assert seen["enabled"] is False
    assert sorted(seen["moves"]) == [("start", "f0"), ("start", "f1")]
    await assert_healed(api, proxy)


@pytest.mark.asyncio
async def test_the_timeline_clock_starts_when_ready_returns(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()
    go = asyncio.Event()
    timeline = (planned("f0", "latency", 0.0, latency=1), planned("f1", "latency", 0.01, latency=2))
    before_ready: list[str] = []

    async def clients() -> None:
        await asyncio.sleep(0.2)
        before_ready.extend(await toxic_names(api, proxy))
        go.set()
        await until(lambda: started(history, "f1"))

    await Nemesis(api, history, proxy, timeline).alongside(clients(), go.wait)
    assert before_ready == ["f0"]
    assert moves(history) == [("start", "f0"), ("start", "f1"), ("end", "f0"), ("end", "f1")]
    await assert_healed(api, proxy)


# --- the timeline ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_faults_go_in_and_out_at_their_times_in_order(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()
    timeline = (
        planned("f0", "latency", 0.0, 0.15, latency=100, jitter=20),
        planned("f1", "bandwidth", 0.05, 0.25, rate=3, stream="upstream"),
        planned("f3", "down", 0.1, 0.2),
        planned("f2", "slicer", 0.15, 0.3, average_size=8, toxicity=0.5),  # in as f0 goes out
    )

    async def clients() -> None:
        await until(lambda: len(history.records) == 8)

    began = time.monotonic_ns()
    await Nemesis(api, history, proxy, timeline).alongside(clients())
    assert moves(history) == [
        ("start", "f0"),
        ("start", "f1"),
        ("start", "f3"),
        ("end", "f0"),
        ("start", "f2"),
        ("end", "f3"),
        ("end", "f1"),
        ("end", "f2"),
    ]
    records = history.of_kind(Kind.FAULT_START, Kind.FAULT_END)
    assert [r.t_ns for r in records] == sorted(r.t_ns for r in records)
    by_id = {f.fault_id: f for f in timeline}
    for record in records:
        assert record.client == NEMESIS
        fault = by_id[record.event_id]
        due = fault.at if record.kind == Kind.FAULT_START else fault.until
        assert (record.t_ns - began) / 1e9 >= due - EARLY, record
        note = FaultNote.model_validate_json(record.detail)
        assert note == FaultNote(
            action=fault.fault.kind, description=fault.fault.describe(), proxy=proxy, slack=fault.fault.slack()
        )
    assert FaultNote.model_validate_json(records[0].detail).slack.heartbeat_s == pytest.approx(0.04)
    await assert_healed(api, proxy)


@pytest.mark.asyncio
async def test_at_one_instant_the_removal_goes_before_the_addition(api: ToxiproxyAPI, proxy: str) -> None:
    """Two outages back to back: were the second put in before the first came out, undoing the
    first would enable the proxy in the middle of the second."""
    history = History()
    timeline = (planned("f0", "down", 0.0, 0.1), planned("f1", "down", 0.1, 1.0))
    during_second: list[bool] = []

    async def clients() -> None:
        await until(lambda: started(history, "f1") and ("end", "f0") in moves(history))
        during_second.append((await api.proxy(proxy)).enabled)

    await Nemesis(api, history, proxy, timeline).alongside(clients())
    assert during_second == [False]
    assert moves(history) == [("start", "f0"), ("end", "f0"), ("start", "f1"), ("end", "f1")]
    await assert_healed(api, proxy)


# --- every way out heals ---------------------------------------------------------------------


def long_timeline() -> tuple[PlannedFault, ...]:
    """Two faults that are in by 0.05 s and planned to stay for long, one never reached."""
    return (
        planned("f0", "latency", 0.0, latency=100),
        planned("f1", "down", 0.05, 30.0),
        planned("f2", "bandwidth", 30.0, rate=1),
    )


@pytest.mark.asyncio
async def test_clients_finishing_early_heal_every_applied_fault(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()

    async def clients() -> None:
        await until(lambda: started(history, "f1"))

    began = time.monotonic()
    await Nemesis(api, history, proxy, long_timeline()).alongside(clients())
    assert time.monotonic() - began < 20  # did not wait for the timeline
    await assert_healed(api, proxy)
    assert moves(history)[:2] == [("start", "f0"), ("start", "f1")]
    assert sorted(moves(history)[2:]) == [("end", "f0"), ("end", "f1")]


@pytest.mark.asyncio
async def test_clients_raising_propagate_and_heal(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()

    async def clients() -> None:
        await until(lambda: started(history, "f1"))
        raise RuntimeError("client blew up")

    with pytest.raises(RuntimeError, match="client blew up"):
        await Nemesis(api, history, proxy, long_timeline()).alongside(clients())
    await assert_healed(api, proxy)
    assert moves(history)[:2] == [("start", "f0"), ("start", "f1")]
    assert sorted(moves(history)[2:]) == [("end", "f0"), ("end", "f1")]


@pytest.mark.asyncio
async def test_a_fault_that_fails_to_go_in_ends_the_run_and_the_rest_heal(api: ToxiproxyAPI, proxy: str) -> None:
    """A toxic already holds f2's name, so Toxiproxy refuses f2 (409); the nemesis's own faults
    come out, the toxic it did not put there stays, and the clients are stopped."""
    await api.add_toxic(proxy, ToxicSpec("f2", "latency", {"latency": 7}))
    history = History()
    timeline = (
        planned("f0", "latency", 0.0, latency=100),
        planned("f1", "down", 0.0),
        planned("f2", "bandwidth", 0.05, rate=1),
    )
    stopped = asyncio.Event()

    async def clients() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    with pytest.raises(ToxiproxyError) as error:
        await Nemesis(api, history, proxy, timeline).alongside(clients())
    assert error.value.status == 409
    assert stopped.is_set()
    assert [(t["name"], t["attributes"]) for t in await api.toxics(proxy)] == [("f2", {"latency": 7, "jitter": 0})]
    assert (await api.proxy(proxy)).enabled is True
    assert sorted(moves(history)) == [("end", "f0"), ("end", "f1"), ("start", "f0"), ("start", "f1")]


@pytest.mark.asyncio
async def test_a_fault_on_a_deleted_proxy_ends_the_run_with_toxiproxy_s_error(api: ToxiproxyAPI, proxy: str) -> None:
    history = History()
    timeline = (planned("f0", "latency", 0.0, latency=100), planned("f1", "latency", 0.05, latency=5))
    stopped = asyncio.Event()

    async def clients() -> None:
        await api.delete_proxy(proxy)
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    with pytest.raises(ToxiproxyError, match="proxy not found") as error:
        await Nemesis(api, history, proxy, timeline).alongside(clients())
    assert error.value.status == 404
    assert stopped.is_set()
    assert not started(history, "f1")


@pytest.mark.asyncio
async def test_an_initial_fault_that_fails_heals_the_other_initial_faults(api: ToxiproxyAPI, proxy: str) -> None:
    await api.add_toxic(proxy, ToxicSpec("f1", "latency", {"latency": 7}))
    history = History()
    timeline = (planned("f0", "bandwidth", 0.0, rate=1), planned("f1", "latency", 0.0, latency=100))
    ran: list[bool] = []

    async def clients() -> None:
        ran.append(True)

    work = clients()
    try:
        with pytest.raises(ToxiproxyError) as error:
            await Nemesis(api, history, proxy, timeline).alongside(work)
        assert error.value.status == 409
        assert ran == []
        await asyncio.sleep(0.1)  # any apply still in flight lands
        assert await toxic_names(api, proxy) == ["f1"]  # only the toxic the nemesis did not put there
        assert moves(history) == [("start", "f0"), ("end", "f0")]
    finally:
        work.close()  # never started: no "never awaited" warning


@pytest.mark.asyncio
async def test_a_fault_gone_before_its_undo_ends_the_run_with_toxiproxy_s_error(api: ToxiproxyAPI, proxy: str) -> None:
    """Mid-timeline, a 404 on an undo means the proxy is not what the nemesis thinks: an error, not a pass."""
    history = History()

    async def clients() -> None:
        await until(lambda: started(history, "f0"))
        await api.remove_toxic(proxy, "f0")
        await asyncio.sleep(5)

    with pytest.raises(ToxiproxyError) as raised:
        await Nemesis(api, history, proxy, (planned("f0", "latency", 0.0, 0.2, latency=10),)).alongside(clients())
    assert raised.value.status == 404


@pytest.mark.asyncio
async def test_a_fault_that_cannot_be_undone_makes_a_run_that_ended_well_an_error(
    api: ToxiproxyAPI, proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History()
    fault = planned("f0", "latency", 0.0, latency=10)

    async def refuse(*_args: object) -> None:
        raise ToxiproxyError(500, "boom")

    async def clients() -> None:
        monkeypatch.setattr(type(fault.fault), "undo", refuse)

    with pytest.raises(EnvironmentProblem, match="the nemesis could not undo f0: toxiproxy answered 500: boom"):
        await Nemesis(api, history, proxy, (fault,)).alongside(clients())
    (recorded,) = history.of_kind(Kind.ERROR)
    assert (recorded.client, recorded.event_id) == (NEMESIS, "f0")
    monkeypatch.undo()
    await fault.fault.undo(Stage(api, proxy, history, lambda _fault, _said: None), "f0")
