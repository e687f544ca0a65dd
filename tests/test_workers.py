"""Worker processes: a scenario's HTTP clients split over them give the verdicts and clients of
one process; a worker that dies, goes silent or writes what is not a report makes the scenario
an error naming it; credentials go over the pipe only; every worker is stopped on every path."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from harness.checks import Status
from harness.history import HARNESS, History, Kind, harness_loop
from harness.plan import Plan, SweepPlan
from harness.profile import DEFAULT_PROFILE
from harness.results import ScenarioRun
from harness.runner import WORKERS_LEAD_SECONDS, Runner, StartGate
from harness.scenario import load_scenario
from harness.share import Share
from harness.target import Target
from harness.toxiproxy import toxiproxy
from harness.transport import new_http_client
from harness.workers import coordinator
from harness.workers.coordinator import WorkerFailed, workers_started
from harness.workers.wire import BATCH_BYTES, Report, batches
from tests.helpers.histories import built_plan, changed
from tests.helpers.servers import ServerFactory
from tests.helpers.toxiproxy import require_toxiproxy

SECRET = "Bearer wk-7f3a9c-never-in-argv"
_INTERRUPTED = """
name = "interrupted"
description = "the link goes down past the silence threshold, then comes back"

[clients]
count = 6
stagger = "50ms"
max_tokens = {max_tokens}

[[faults]]
at = "0.5s"
for = "silence + 0.3s"
action = "down"

[expect]
reason = "finished"
min_reconnects = 1
"""


def _scenario(tmp_path: Path, max_tokens: int = 150) -> Path:
    path = tmp_path / "interrupted.toml"
    path.write_text(_INTERRUPTED.format(max_tokens=max_tokens))
    return path


async def _run(
    start_server: ServerFactory,
    tmp_path: Path,
    workers: int,
    headers: dict[str, str] | None = None,
    progress: list[str] | None = None,
    start_gate: StartGate | None = None,
    **scenario: int,
) -> ScenarioRun:
    require_toxiproxy()
    async with start_server() as server, toxiproxy(tmp_path) as api, new_http_client() as http:
        target = Target(server.stream_url, DEFAULT_PROFILE, headers or {})
        on_progress = progress.append if progress is not None else None
        return await Runner(target, api, http, workers=workers, start_gate=start_gate).run(
            load_scenario(_scenario(tmp_path, **scenario)), on_progress
        )


def _worker_pids() -> list[int]:
    """This process's children that are worker processes."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
            except OSError:  # it exited meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"harness.workers" in cmdline:
                pids.append(int(entry.name))
    return sorted(pids)


async def _workers_appear(count: int) -> list[int]:
    async with asyncio.timeout(30):
        while len(pids := _worker_pids()) < count:
            await asyncio.sleep(0.02)
    return pids


@pytest.mark.asyncio
async def test_two_workers_give_the_verdicts_and_clients_of_one_process(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    progress: list[str] = []
    alone = await _run(start_server, tmp_path, workers=1)
    split = await _run(start_server, tmp_path, workers=2, progress=progress)
    assert (alone.error, split.error) == (None, None)
    assert progress == ["interrupted"] * 6  # once for each client that ended, as in one process
    assert {r.name: r.status for r in split.results} == {r.name: r.status for r in alone.results}
    assert Status.FAIL not in {r.status for r in split.results}, [r.detail for r in split.results]
    assert sorted(split.history.clients()) == alone.history.clients() == [f"c{n:04d}" for n in range(6)]
    assert alone.history.loops == {}
    assert split.history.loops == {f"c{n:04d}": harness_loop(f"worker{n % 2}") for n in range(6)}
    samplers = {(r.client, r.event) for r in split.history.of_kind(Kind.LOOP_LAG)}
    assert samplers == {(HARNESS, ""), (HARNESS, "worker0"), (HARNESS, "worker1")}
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_workers_start_their_clients_on_the_stagger_of_one_process(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    run = await _run(start_server, tmp_path, workers=2)
    first = {r.client: r.t_ns for r in reversed(run.history.of_kind(Kind.ATTEMPT))}
    starts = [(first[f"c{n:04d}"] - run.history.epoch_ns) / 1e9 for n in range(6)]
    # client n starts n staggers (50 ms) after the scenario's clock, whichever worker runs it: never before
    assert all(start >= n * 0.05 for n, start in enumerate(starts)), starts


class RecordingGate:
    """A start gate that lets each step through at once, saying what the runner had done by then."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.opened_ns = 0

    async def approach(self, plan: Plan, lead_seconds: float) -> None:
        self.steps.append(f"approached {lead_seconds:g} s ahead, {len(_worker_pids())} workers running")

    async def open(self, plan: Plan, history: History) -> None:
        self.steps.append(f"opened, {len(_worker_pids())} workers running, {len(history.loops)} clients given to them")
        self.opened_ns = time.monotonic_ns()


@pytest.mark.asyncio
async def test_a_gated_scenario_starts_its_workers_near_the_gate_and_its_clock_once_it_opens(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """A shard's slot may be minutes away, and a worker waits for its start a bounded time: the
    workers start once the gate is near, and are ready when it opens, so the clock starts at the slot."""
    gate = RecordingGate()
    run = await _run(start_server, tmp_path, workers=2, start_gate=gate)
    assert run.error is None
    assert gate.steps == [
        f"approached {WORKERS_LEAD_SECONDS:g} s ahead, 0 workers running",
        "opened, 2 workers running, 6 clients given to them",
    ]
    assert run.history.epoch_ns >= gate.opened_ns


@pytest.mark.asyncio
async def test_a_worker_killed_mid_scenario_makes_it_an_error_naming_the_worker(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    async def kill_the_second() -> int:
        pids = await _workers_appear(2)
        await asyncio.sleep(1.0)  # its clients are streaming
        os.kill(pids[1], signal.SIGKILL)
        return pids[1]

    killer = asyncio.create_task(kill_the_second())
    run = await _run(start_server, tmp_path, workers=2, max_tokens=400)
    killed = await killer
    assert run.error == f"worker 1 of 2 (pid {killed}) was killed by SIGKILL mid-scenario"
    assert run.results == []
    assert not _worker_pids()  # the other worker was stopped, and both were waited for


@pytest.mark.asyncio
async def test_credentials_reach_workers_over_the_pipe_never_argv_or_environment(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    seen: list[bytes] = []

    async def look_at_the_workers() -> None:
        for pid in await _workers_appear(2):
            seen.append((Path("/proc") / str(pid) / "cmdline").read_bytes())
            seen.append((Path("/proc") / str(pid) / "environ").read_bytes())

    looking = asyncio.create_task(look_at_the_workers())
    run = await _run(start_server, tmp_path, workers=2, headers={"Authorization": SECRET})
    await looking
    assert run.error is None
    assert len(seen) == 4
    assert all(b"harness.workers" in seen[n] for n in (0, 2))
    assert not any(SECRET.encode() in text for text in seen)
    assert SECRET not in str(run.history.to_json())


@pytest.mark.asyncio
async def test_ctrl_c_is_the_coordinator_s_to_handle_a_worker_waits_to_be_stopped() -> None:
    async with workers_started(1):
        (pid,) = await _workers_appear(1)
        os.kill(pid, signal.SIGINT)
        await asyncio.sleep(0.5)
        assert _worker_pids() == [pid]
    assert not _worker_pids()


@pytest.mark.parametrize(
    ("clients", "share", "played_by"),
    [
        ({"count": 6}, Share(), 4),
        ({"count": 3}, Share(), 3),  # one worker a client at most
        ({"count": 3}, Share(1, 2), 1),  # this runner's share is one client: it runs here
        ({"count": 6, "kind": "browser"}, Share(), 1),  # pages are driven through this process's Chromium
    ],
)
def test_http_clients_on_one_timeline_are_split_over_the_workers(
    clients: dict[str, object], share: Share, played_by: int
) -> None:
    runner = Runner(Target("http://127.0.0.1:9/stream", DEFAULT_PROFILE), api=None, http=None, share=share, workers=4)  # type: ignore[arg-type]
    assert runner._played_by(changed(built_plan(), clients=clients)) == played_by


def test_a_sweep_stays_in_the_coordinator_which_plays_each_client_s_own_timeline() -> None:
    sweep = SweepPlan(fault_id="f0", attribute="bytes", values=tuple(range(6)), lanes=2)
    plan = changed(built_plan(), clients={"count": 6}).model_copy(update={"sweep": sweep})
    runner = Runner(Target("http://127.0.0.1:9/stream", DEFAULT_PROFILE), api=None, http=None, workers=4)  # type: ignore[arg-type]
    assert runner._played_by(plan) == 1


# --- the coordinator's side, against stand-ins that misbehave ------------------------------------


def _stand_in(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Worker processes that run `script` (their command line names harness.workers, as a worker's does)."""
    monkeypatch.setattr(coordinator, "WORKER_COMMAND", (sys.executable, "-c", f"# harness.workers stand-in\n{script}"))


# says it is ready, reads its spec, says it is ready again, reads its start
_READY = "import sys, time\n" + "print('{\"ready\": true}', flush=True); sys.stdin.readline(); " * 2 + "\n"


def _sends(client: str, kind: str, event: str = "") -> str:
    """A stand-in's line: one record of `client` and `kind` (a lag or a wait of 150 ms), then it waits."""
    row = [1, client, kind, -1, -1, 0, 0, event, "", False, "", "", "", 150_000]
    return f"print({json.dumps(json.dumps({'rows': [row]}))}, flush=True); time.sleep(30)"


async def _play_one(history: History) -> None:
    plan = built_plan()
    async with workers_started(1) as workers:
        prepared = await workers.prepare(plan, history, Share(), {}, ("127.0.0.1", 9))
        await prepared.run(lambda: None)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("after_the_spec", "error"),
    [
        ("print('<html>', flush=True); time.sleep(30)", "wrote a line that is not a report: <html>"),
        ('print(\'{"error": "no route"}\', flush=True)', "failed: no route"),
        ('print(\'{"rows": [[1, "c0000", "event"]]}\', flush=True)', "sent a record that is not one"),
        (
            'print(\'{"rows": [[1, "c0099", "event", -1, -1, 0, 0, "", "", false, "", "", "", 0]]}\','
            " flush=True); time.sleep(30)",
            "sent a record of c0099, not one of its clients",
        ),
        (_sends("c0000", "cpu_wait", "toxiproxy"), "record 0: cpu_wait of c0000: only the harness samples them"),
        (_sends("c0000", "fault_start"), "record 0: fault_start of c0000: only the nemesis applies faults"),
        (_sends("harness", "cpu_wait", "toxiproxy"), "sent a record of harness, not one of its clients"),
        (_sends("harness", "loop_lag", "worker1"), "sent a record of harness, not one of its clients"),
        (_sends("c0000", "loop_lag"), "sent a loop_lag of c0000: its HTTP clients have no page"),
        (_sends("c0000", "display"), "sent a display of c0000: its HTTP clients have no page"),
        ("sys.exit(3)", "exited 3 mid-scenario"),
        (
            "sys.stderr.write('Traceback\\nBoom: it broke\\n'); sys.exit(1)",
            "exited 1 mid-scenario; last line on stderr: Boom: it broke",
        ),
        ("print('{\"done\": true}', flush=True); sys.exit(4)", "said it was done, then exited 4"),
    ],
)
async def test_a_worker_that_misbehaves_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, after_the_spec: str, error: str
) -> None:
    _stand_in(monkeypatch, _READY + after_the_spec)
    history = History()
    with pytest.raises(WorkerFailed, match=r"^worker 0 of 1 \(pid \d+\) ") as raised:
        await asyncio.wait_for(_play_one(history), 20)
    assert error in str(raised.value)
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_a_worker_s_line_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coordinator, "MAX_LINE_BYTES", 1000)
    _stand_in(monkeypatch, _READY + "print('[' + '0,' * 1000 + '0]', flush=True); time.sleep(30)")
    with pytest.raises(WorkerFailed, match=r"\(pid \d+\) wrote a line over 1000 bytes$"):
        await asyncio.wait_for(_play_one(History()), 20)
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_a_worker_s_lag_samples_are_bounded_by_the_scenario_s_hard_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One a sampling period (50 ms) over the hard deadline (26 s), and a margin: 536 at most."""
    plan = built_plan()
    assert int(plan.hard_deadline / plan.lag_sample_seconds) + 16 == 536
    sample = [1, HARNESS, "loop_lag", -1, -1, 0, 0, "worker0", "", False, "", "", "", 7]
    line = json.dumps({"rows": [sample] * 537})
    _stand_in(monkeypatch, _READY + f"print({line!r}, flush=True); time.sleep(30)")
    with pytest.raises(WorkerFailed, match="sent more lag samples than its scenario's hard deadline allows"):
        await asyncio.wait_for(_play_one(History()), 20)
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_a_silent_worker_is_an_error_after_the_read_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(monkeypatch, _READY + "time.sleep(30)")
    monkeypatch.setattr(coordinator, "SILENT_SECONDS", 0.5)
    with pytest.raises(WorkerFailed, match=r"^worker 0 of 1 \(pid \d+\) sent nothing for 0.5 s$"):
        await asyncio.wait_for(_play_one(History()), 20)
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_a_worker_that_never_says_it_is_ready_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(monkeypatch, "import time; time.sleep(30)")
    monkeypatch.setattr(coordinator, "READY_SECONDS", 0.5)
    with pytest.raises(WorkerFailed, match=r"sent nothing for 0\.5 s"):
        async with workers_started(2):
            pass
    assert not _worker_pids()


@pytest.mark.asyncio
async def test_workers_are_stopped_when_the_scenario_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(monkeypatch, _READY + "time.sleep(30)")
    playing = asyncio.create_task(_play_one(History()))
    await _workers_appear(1)
    playing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await playing
    assert not _worker_pids()


# --- the wire ------------------------------------------------------------------------------------


def test_a_batch_is_cut_into_lines_of_bounded_size_and_says_its_finished_clients_once() -> None:
    rows = [(n, "c0000", "event", "x" * 1000) for n in range(3000)]
    lines = list(batches(rows, finished=2))
    assert len(lines) >= 3
    assert all(len(line) <= BATCH_BYTES + 2048 for line in lines)
    reports = [Report.model_validate_json(line) for line in lines]
    assert [row[0] for report in reports for row in report.rows] == list(range(3000))
    assert [report.finished for report in reports] == [2] + [0] * (len(reports) - 1)


def test_an_empty_batch_is_one_line_that_says_the_worker_is_alive() -> None:
    assert [Report.model_validate_json(line) for line in batches([], finished=0)] == [Report()]
