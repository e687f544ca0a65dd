"""Process faults against real reference-server processes: each kind does what it says to the
instance it names, is undone on the same one, and the nemesis leaves no instance stopped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from harness.deploy.base import DeploymentError
from harness.deploy.fleet import Fleet, fleet
from harness.faults import Stage, make_fault
from harness.history import NEMESIS, History, Kind
from harness.nemesis import Nemesis
from harness.plan import PlannedFault
from harness.toxiproxy import ToxiproxyAPI
from tests.helpers.processes import alive, state
from tests.helpers.servers import TEST_TIMING

FAST_DRAIN = TEST_TIMING | {"drain_seconds": 1}


@pytest_asyncio.fixture
async def three(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with fleet(3, FAST_DRAIN, tmp_path) as running:
        yield running


def stage_on(deployment: Fleet, history: History | None = None) -> Stage:
    history = history or History()
    said = lambda fault, text: history.add(NEMESIS, Kind.COMMAND, event_id=fault, detail=text)  # noqa: E731
    return Stage(ToxiproxyAPI("http://127.0.0.1:9"), "unused", history, said, deployment)


def pids(deployment: Fleet) -> dict[str, int]:
    return {name: server.process.pid for name, server in deployment.servers.items() if server.process is not None}


def served(history: History, client: str, instance: str) -> None:
    headers = {"X-Instance-ID": instance, "Content-Type": "text/event-stream"}
    history.add(client, Kind.RESPONSE, status=200, detail=json.dumps(headers))


async def healthy(deployment: Fleet, instance: str) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            response = await http.get(f"{deployment.servers[instance].base_url}/healthz", timeout=0.5)
        except httpx.HTTPError:
            return False
    return response.status_code == 200 and response.headers["x-instance-id"] == instance


@pytest.mark.asyncio
async def test_kill_sigkills_the_instance_serving_the_client_and_undo_starts_it_on_its_port(three: Fleet) -> None:
    history = History()
    served(history, "c0001", "i0")
    served(history, "c0002", "i2")
    served(history, "c0001", "i1")  # its latest response: it moved to i1
    stage, before = stage_on(three, history), pids(three)
    port = three.servers["i1"].port
    kill = make_fault("kill", {"client": 1})
    await kill.apply(stage, "f0")
    assert three.servers["i1"].process is not None
    assert three.servers["i1"].process.returncode == -9
    assert not alive(before["i1"])
    assert [await healthy(three, name) for name in ("i0", "i1", "i2")] == [True, False, True]
    await kill.undo(stage, "f0")
    assert three.servers["i1"].port == port
    assert pids(three)["i1"] != before["i1"]
    assert await healthy(three, "i1")
    said = [record.detail for record in history.of_kind(Kind.COMMAND)]
    assert said == [
        f"kill i1 (port {port}): pid {before['i1']} -> -",
        f"start i1 (port {port}): pid - -> {pids(three)['i1']}",
    ]


@pytest.mark.asyncio
async def test_terminate_drains_and_exits_cleanly_and_undo_starts_it(three: Fleet) -> None:
    stage, before = stage_on(three), pids(three)
    terminate = make_fault("terminate", {"instance": "any"})
    await terminate.apply(stage, "f0")
    process = three.servers["i0"].process
    assert process is not None
    assert process.returncode == 0  # a graceful exit: it drained
    await terminate.undo(stage, "f0")
    assert await healthy(three, "i0")
    assert pids(three)["i0"] != before["i0"]
    assert {name: pid for name, pid in pids(three).items() if name != "i0"} == {"i1": before["i1"], "i2": before["i2"]}


@pytest.mark.asyncio
async def test_pause_stops_every_instance_in_turn_and_undo_resumes_them(three: Fleet) -> None:
    stage, before = stage_on(three), pids(three)
    pause = make_fault("pause", {"instance": "all"})
    await pause.apply(stage, "f0")
    await asyncio.sleep(0.05)
    assert [state(pid) for pid in before.values()] == ["T", "T", "T"]
    assert not await healthy(three, "i1")
    await pause.undo(stage, "f0")
    assert all(state(pid) != "T" for pid in before.values())
    assert [await healthy(three, name) for name in ("i0", "i1", "i2")] == [True, True, True]
    assert pids(three) == before


@pytest.mark.asyncio
async def test_resume_wakes_a_paused_instance(three: Fleet) -> None:
    stage, before = stage_on(three), pids(three)
    await make_fault("pause", {"instance": "any"}).apply(stage, "f0")
    await asyncio.sleep(0.05)
    assert state(before["i0"]) == "T"
    await make_fault("resume", {"instance": "any"}).apply(stage, "f1")
    assert state(before["i0"]) != "T"
    assert await healthy(three, "i0")


@pytest.mark.asyncio
async def test_restart_brings_a_new_process_up_healthy_on_the_same_port(three: Fleet) -> None:
    stage, before = stage_on(three), pids(three)
    port = three.servers["i0"].port
    await make_fault("restart", {"instance": "any"}).apply(stage, "f0")
    assert pids(three)["i0"] != before["i0"]
    assert three.servers["i0"].port == port
    assert await healthy(three, "i0")


@pytest.mark.asyncio
async def test_rolling_restart_restarts_every_instance_one_after_another(three: Fleet) -> None:
    history = History()
    stage, before = stage_on(three, history), pids(three)
    await make_fault("rolling-restart", {}).apply(stage, "f0")
    after = pids(three)
    assert all(after[name] != before[name] for name in before)
    assert [await healthy(three, name) for name in ("i0", "i1", "i2")] == [True, True, True]
    said = [record.detail.split()[:2] for record in history.of_kind(Kind.COMMAND)]
    assert said == [["restart", "i0"], ["restart", "i1"], ["restart", "i2"]]


@pytest.mark.asyncio
async def test_a_client_with_no_named_instance_or_an_unknown_one_is_a_deployment_error(three: Fleet) -> None:
    history = History()
    stage = stage_on(three, history)
    kill = make_fault("kill", {"client": 4})
    with pytest.raises(DeploymentError, match=r"^no response to client 4 yet names its instance \(X-Instance-ID\)$"):
        await kill.apply(stage, "f0")
    served(history, "c0004", "i9\x1b[31m")
    with pytest.raises(DeploymentError) as unknown:
        await kill.apply(stage, "f0")
    assert str(unknown.value) == (
        "client 4 is served by instance 'i9\\x1b[31m', which the deployment does not list (instances: i0, i1, i2)"
    )
    assert all(alive(pid) for pid in pids(three).values())


@pytest.mark.asyncio
async def test_a_fault_on_the_store_of_a_deployment_without_one_is_an_error(three: Fleet) -> None:
    with pytest.raises(DeploymentError, match="the fault 'pause' acts on the shared replay store, and this"):
        await make_fault("pause", {"instance": "store"}).apply(stage_on(three), "f0")
    assert all(state(pid) != "T" for pid in pids(three).values())


@pytest.mark.asyncio
async def test_a_process_fault_without_a_deployment_is_an_error_saying_what_to_give() -> None:
    stage = Stage(ToxiproxyAPI("http://127.0.0.1:9"), "unused", History(), lambda _fault, _text: None)
    with pytest.raises(DeploymentError, match="the fault 'pause' acts on processes, and this run knows no deployment"):
        await make_fault("pause", {}).apply(stage, "f0")


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["pause", "kill"])
async def test_the_nemesis_heals_a_process_fault_on_every_path(three: Fleet, kind: str) -> None:
    """A fault kept to the end, clients that raise: the instance is running, awake, after the run."""
    history = History()
    timeline = (PlannedFault(fault_id="f0", fault=make_fault(kind, {"instance": "all"}), at=0.0, until=None),)
    nemesis = Nemesis(ToxiproxyAPI("http://127.0.0.1:9"), history, "unused", timeline, three)

    async def clients() -> None:
        await asyncio.sleep(0.1)
        raise RuntimeError("a client failed")

    with pytest.raises(RuntimeError, match="a client failed"):
        await nemesis.alongside(clients())
    assert [await healthy(three, name) for name in ("i0", "i1", "i2")] == [True, True, True]
    assert all(state(pid) != "T" for pid in pids(three).values())
    kinds = [record.kind for record in history.records if record.client == NEMESIS]
    assert kinds[0] == Kind.FAULT_START  # recorded before it acted
    assert kinds[-1] == Kind.FAULT_END


@pytest.mark.asyncio
async def test_a_fault_that_is_its_apply_ends_with_it_while_the_clients_run(three: Fleet) -> None:
    history = History()
    timeline = (PlannedFault(fault_id="f0", fault=make_fault("restart", {"instance": "any"}), at=0.0, until=None),)

    async def clients() -> None:  # they end only once the fault has: not at the heal after them
        async with asyncio.timeout(10):
            while not history.of_kind(Kind.FAULT_END):
                await asyncio.sleep(0.01)

    await Nemesis(ToxiproxyAPI("http://127.0.0.1:9"), history, "unused", timeline, three).alongside(clients())
    kinds = [record.kind for record in history.records if record.client == NEMESIS]
    assert kinds == [Kind.FAULT_START, Kind.COMMAND, Kind.FAULT_END]
