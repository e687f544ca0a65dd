"""Two shard processes on this machine, each with its own Toxiproxy, one with its clock 20 s off,
the other playing its clients over two worker processes, merged: the verdicts and clients of the
same scenario in one process, and the shards' faults in at the same time."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from subprocess import STDOUT

import pytest
from typer.testing import CliRunner

from harness.checks.views import fault_windows
from harness.cli import app
from harness.embedded import EmbeddedServer
from harness.history import History, harness_loop
from tests.helpers.toxiproxy import require_toxiproxy

SCENARIO = "network-interruption"
SHIFT_S = -20.0  # shard 1's wall clock reads 20 s behind
_RUN_DEADLINE_S = 180.0
_STOP_DEADLINE_S = 20.0


async def sse_chaos(module: str, *args: str, log: Path) -> int:
    """`python -m module args`, its output in `log`; stopped (SIGTERM: it stops what it started,
    then SIGKILL) on every path out, its run bounded."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, stdout=output, stderr=STDOUT
        )
        try:
            async with asyncio.timeout(_RUN_DEADLINE_S):
                return await process.wait()
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(_STOP_DEADLINE_S):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


def verdicts(report_dir: Path) -> dict[str, str]:
    (scenario,) = json.loads((report_dir / "summary.json").read_text())["scenarios"]
    assert scenario["error"] is None
    return {check["name"]: check["status"] for check in scenario["checks"]}


def saved(report_dir: Path) -> History:
    return History.load(report_dir / "histories" / f"{SCENARIO}.json")


@pytest.mark.asyncio
async def test_two_shards_one_with_its_clock_off_merge_into_the_verdicts_of_one_process(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    require_toxiproxy()
    common = ["run", "--target", server.stream_url, "--scenario", SCENARIO, "--start-at", str(round(time.time()) + 8)]
    shards = [tmp_path / "shard-0", tmp_path / "shard-1"]
    shard = [[*common, "--shard", f"{index}/2", "--report-dir", str(shards[index])] for index in (0, 1)]
    shard[0] += ["--workers", "2"]  # its workers start before its slot: its timeline starts at the slot
    async with asyncio.TaskGroup() as both:
        runs = [
            both.create_task(sse_chaos("harness.cli", *shard[0], log=tmp_path / "0.log")),
            both.create_task(sse_chaos("tests.helpers.shifted_clock", str(SHIFT_S), *shard[1], log=tmp_path / "1.log")),
        ]
    assert [run.result() for run in runs] == [0, 0], (tmp_path / "0.log").read_text()[-2000:]
    merged, single = tmp_path / "merged", tmp_path / "single"
    merge = ["merge", str(shards[0]), str(shards[1]), "--report-dir", str(merged)]
    merging = await sse_chaos("harness.cli", *merge, log=tmp_path / "m")
    assert merging == 0, (tmp_path / "m").read_text()[-2000:]
    one = common[: common.index("--start-at")]
    assert await sse_chaos("harness.cli", *one, "--report-dir", str(single), log=tmp_path / "single.log") == 0

    assert verdicts(merged) == verdicts(single)
    together, alone = saved(merged), saved(single)
    assert sorted(together.clients()) == sorted(alone.clients()) == ["c0000", "c0001", "c0002"]
    offsets = {anchor.shard: anchor.clock for anchor in together.anchors}
    assert abs(offsets["0/2"].offset_s) <= offsets["0/2"].uncertainty_s
    assert abs(offsets["1/2"].offset_s + SHIFT_S) <= offsets["1/2"].uncertainty_s
    assert set(saved(shards[0]).loops.values()) == {harness_loop("worker0"), harness_loop("worker1")}
    # aligned, the shards' windows of a fault nearly coincide: their hull is as long as one shard's window
    (own,) = fault_windows(saved(shards[0]))
    (hull,) = fault_windows(together)
    widening = offsets["0/2"].uncertainty_s + offsets["1/2"].uncertainty_s
    assert hull.end - hull.start - 2 * widening == pytest.approx(own.end - own.start, abs=0.05)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--shard", "0/2"], "--shard and --start-at go together (and --clock-url with them)"),
        (["--start-at", "2099-01-01T00:00:00Z"], "--shard and --start-at go together (and --clock-url with them)"),
        (["--clock-url", "http://127.0.0.1:9/"], "--shard and --start-at go together (and --clock-url with them)"),
        (["--shard", "2/2", "--start-at", "{soon}"], "a share is I/N with 0 <= I < N, not 2/2"),
        (["--shard", "0/2", "--start-at", "1000"], "--start-at is"),
        (["--shard", "0/2", "--start-at", "{soon}", "--clock-url", "ntp.example"], "--clock-url must be an http"),
    ],
)
def test_a_shard_s_options_given_wrong_are_one_line_errors(options: list[str], message: str) -> None:
    soon = str(round(time.time()) + 60)
    given = [option.replace("{soon}", soon) for option in options]
    result = CliRunner().invoke(app, ["run", "--scenario", SCENARIO, *given], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}")
    assert result.output.count("\n") == 1
