"""`sse-chaos merge` on shards' report directories built by hand: what it refuses, how it aligns
the shards' clocks, unites their fault windows and keeps each shard's loop lag to its own clients."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.checks import Status
from harness.checks.views import fault_windows
from harness.cli import app
from harness.errors import ConfigurationError
from harness.faults import FaultNote
from harness.history import History, Kind
from harness.shards.clock import MAX_UNCERTAINTY_S
from harness.shards.manifest import MANIFEST, ShardManifest, read_manifest, write_manifest
from harness.shards.merge import merge_shards, read_shards
from tests.helpers.histories import HistoryBuilder, judge
from tests.helpers.shards import shard_dir, steady


def merged(root: Path, *directories: Path) -> History:
    (run,) = merge_shards(read_shards(list(directories)), root / "merged")
    return run.history


def test_merged_shards_hold_every_shard_s_clients_on_the_reference_clock(tmp_path: Path) -> None:
    """Shard 1's wall clock is 20 s behind the reference: its records still land where shard 0's do."""
    history = merged(tmp_path, shard_dir(tmp_path, 0), shard_dir(tmp_path, 1, offset=20.0))
    assert history.clients() == ["c0000", "c0001"]
    first_beats = {
        record.client: round(history.seconds(record), 6)
        for record in reversed(history.records)
        if record.event == "heartbeat"
    }
    assert first_beats == {"c0000": 0.25, "c0001": 0.25}
    assert judge("heartbeat_timing", history).status == Status.PASS
    assert [anchor.shard for anchor in history.anchors] == ["0/2", "1/2"]
    assert history.loops == {"c0000": "harness:shard0", "c0001": "harness:shard1"}


def no_client(builder: HistoryBuilder) -> None:
    """A shard with no client of the scenario (more shards than clients): only its loop's lag."""
    builder.loop_lag(0.5, 1_000)


def test_a_shard_without_clients_adds_its_loop_s_lag_and_no_client(tmp_path: Path) -> None:
    streams = [steady, steady, no_client]
    history = merged(tmp_path, *(shard_dir(tmp_path, index, of=3, stream=s) for index, s in enumerate(streams)))
    assert history.clients() == ["c0000", "c0001"]
    assert {(record.client, record.event) for record in history.records if record.kind == "loop_lag"} == {
        ("harness", "shard2")
    }


def faulted(start: float, end: float | None, builder: HistoryBuilder) -> None:
    steady(builder)
    builder.fault(start, end, "down")


def test_a_fault_s_windows_on_the_shards_become_one_from_the_earliest_start_to_the_latest_end(tmp_path: Path) -> None:
    history = merged(
        tmp_path,
        shard_dir(tmp_path, 0, stream=partial(faulted, 1.2, 1.5)),
        shard_dir(tmp_path, 1, offset=-7.0, stream=partial(faulted, 1.25, 1.6)),
    )
    (window,) = fault_windows(history)
    widening = 0.004  # each shard's clock is known to ± 2 ms
    assert (window.start, window.end) == (pytest.approx(1.2 - widening), pytest.approx(1.6 + widening))


@pytest.mark.parametrize(("uncertainty", "excluded"), [(0.002, 0), (0.045, 2)])
def test_fault_windows_widen_by_the_shards_clock_uncertainty_and_the_checks_say_so(
    tmp_path: Path, uncertainty: float, excluded: int
) -> None:
    """A fault from 1.01 s, just after the clients' last heartbeat at 1.0 s: widened by 4 ms it
    touches no interval; by 90 ms, the last two."""
    shards = [
        shard_dir(tmp_path, index, uncertainty=uncertainty, stream=partial(faulted, 1.01, 1.3)) for index in (0, 1)
    ]
    result = judge("heartbeat_timing", merged(tmp_path, *shards))
    assert result.status == Status.PASS
    assert result.evidence["intervals_excluded_for_faults"] == 2 * excluded
    widening = f"{2 * uncertainty * 1000:.1f}"
    assert result.detail.endswith(
        f" (fault windows widened by ± {widening} ms: the shards' clocks agree to within that;"
        " the shards put each fault in and out up to 0.0 ms apart, their windows joined)"
    )


def test_how_far_apart_the_shards_put_a_fault_in_and_out_is_said(tmp_path: Path) -> None:
    """Shard 1 put the fault in 300 ms after shard 0 (a slow start, a slow proxy): the joined
    window covers both, and the detail says by how much they differed."""
    history = merged(
        tmp_path,
        shard_dir(tmp_path, 0, stream=partial(faulted, 1.2, 1.5)),
        shard_dir(tmp_path, 1, stream=partial(faulted, 1.5, 1.55)),
    )
    starts = [FaultNote.model_validate_json(r.detail).shards_apart_s for r in history.of_kind(Kind.FAULT_START)]
    ends = [FaultNote.model_validate_json(r.detail).shards_apart_s for r in history.of_kind(Kind.FAULT_END)]
    assert (starts, ends) == ([pytest.approx(0.3)], [pytest.approx(0.05)])
    assert judge("heartbeat_timing", history).detail.endswith(
        "the shards put each fault in and out up to 300.0 ms apart, their windows joined)"
    )


def test_a_fault_never_ended_lasts_from_its_earliest_start_widened_to_the_end_of_the_history(tmp_path: Path) -> None:
    history = merged(
        tmp_path,
        shard_dir(tmp_path, 0, stream=partial(faulted, 0.4, None)),
        shard_dir(tmp_path, 1, stream=partial(faulted, 0.3, None)),
    )
    (window,) = fault_windows(history)
    assert (window.start, window.end) == (pytest.approx(0.3 - 0.004), history.seconds(history.records[-1]))


def test_a_shard_whose_clock_is_known_less_closely_than_the_bound_is_refused(tmp_path: Path) -> None:
    shards = [shard_dir(tmp_path, 0), shard_dir(tmp_path, 1, uncertainty=MAX_UNCERTAINTY_S * 1.5)]
    with pytest.raises(ConfigurationError, match="shard 1/2's clock offset is known only to ± 150 ms"):
        read_shards(shards)


def late_heartbeat(builder: HistoryBuilder, lagging: bool = False) -> None:
    """The third heartbeat comes 0.1 s late, past the 0.06 s tolerance; `lagging`: this shard's
    harness loop lagged 150 ms as it was stamped."""
    builder.connect(0.0, responds_after=0.0)
    builder.heartbeats(0.25, 0.5, 0.85, 1.1)
    builder.complete(1.1)
    if lagging:
        builder.loop_lag(0.85, 150_000)


def steady_lagging(builder: HistoryBuilder) -> None:
    steady(builder)
    builder.loop_lag(0.85, 150_000)


@pytest.mark.parametrize(("lagging", "expected"), [(0, Status.PASS), (1, Status.FAIL)])
def test_a_shard_s_loop_lag_forgives_its_own_clients_and_never_another_shard_s(
    tmp_path: Path, lagging: int, expected: Status
) -> None:
    """Shard 0's client heard a heartbeat late while shard `lagging`'s harness loop lagged."""
    streams = [partial(late_heartbeat, lagging=True), steady] if lagging == 0 else [late_heartbeat, steady_lagging]
    history = merged(tmp_path, *(shard_dir(tmp_path, index, stream=stream) for index, stream in enumerate(streams)))
    result = judge("heartbeat_timing", history)
    assert result.status == expected, result.detail
    assert result.evidence["harness_loop_lag_max_ms"] == 150.02  # the top of its histogram bucket


def waited(shard: int, builder: HistoryBuilder) -> None:
    """A process carrying shard `shard`'s streams waited 150 ms for a CPU as the late heartbeat came
    (shard 0's), and shard 1's Toxiproxy waited 20 ms at the start."""
    (late_heartbeat if builder.client == "c0000" else steady)(builder)
    if int(builder.client[-1]) == shard:
        builder.cpu_wait(0.85, 150_000)
    if builder.client == "c0001":
        builder.cpu_wait(0.1, 20_000)


@pytest.mark.parametrize(("waiting", "expected"), [(0, Status.PASS), (1, Status.FAIL)])
def test_a_shard_s_cpu_waits_forgive_its_own_clients_and_never_another_shard_s(
    tmp_path: Path, waiting: int, expected: Status
) -> None:
    stream = partial(waited, waiting)
    history = merged(tmp_path, *(shard_dir(tmp_path, index, stream=stream) for index in (0, 1)))
    result = judge("heartbeat_timing", history)
    assert result.status == expected, result.detail
    assert result.evidence["cpu_wait_toxiproxy_max_ms"] == 150


def late_in_a_worker(lagging_loop: str, waited: bool, builder: HistoryBuilder) -> None:
    """Shard 0's client, run by its worker1, heard its third heartbeat late; as it was stamped, the
    shard's loop `lagging_loop` lagged 150 ms ("worker1", or "" for the shard's coordinator), or a
    process carrying the shard's streams waited as long for a CPU (`waited`)."""
    late_heartbeat(builder)
    if waited:
        builder.cpu_wait(0.85, 150_000)
    else:
        builder.loop_lag(0.85, 150_000, loop=lagging_loop)


@pytest.mark.parametrize(
    ("lagging_loop", "waited", "expected"),
    [("worker1", False, Status.PASS), ("", False, Status.FAIL), ("", True, Status.PASS)],
)
def test_a_shard_s_worker_keeps_its_own_loop_and_shares_its_shard_s_machine(
    tmp_path: Path, lagging_loop: str, waited: bool, expected: Status
) -> None:
    """A worker's lag forgives only its own clients, never its coordinator's lag; the CPU waits
    sampled on the shard's machine forgive the clients of every loop on it."""
    stream = partial(late_in_a_worker, lagging_loop, waited)
    history = merged(tmp_path, shard_dir(tmp_path, 0, stream=stream, worker="worker1"), shard_dir(tmp_path, 1))
    assert history.loops == {"c0000": "harness:shard0:worker1", "c0001": "harness:shard1"}
    result = judge("heartbeat_timing", history)
    assert result.status == expected, result.detail


def refusal(tmp_path: Path, directories: list[Path]) -> str:
    with pytest.raises(ConfigurationError) as refused:
        read_shards(directories)
    return str(refused.value)


def claims_shard_0_s_client(builder: HistoryBuilder) -> None:
    """Shard 1's steady client, and a lag sample under shard 0's client's name: merged, it would
    make shard 1's loop the one that stamped c0000, its lag forgiving c0000's late heartbeats."""
    steady(builder)
    builder.loop_lag(0.85, 150_000)
    builder.loop_lag(0.9, 1, sampler="c0000")


def test_a_shard_whose_history_names_another_shard_s_client_is_refused(tmp_path: Path) -> None:
    shards = [shard_dir(tmp_path, 0, stream=late_heartbeat), shard_dir(tmp_path, 1, stream=claims_shard_0_s_client)]
    assert refusal(tmp_path, shards) == (
        "shard 1/2's history of built holds records of c0000, not one of its clients (1 such)"
    )


def test_a_missing_shard_is_named(tmp_path: Path) -> None:
    given = [shard_dir(tmp_path, 0, of=3), shard_dir(tmp_path, 2, of=3)]
    assert refusal(tmp_path, given) == "shard 1/3 is missing (1 of 3 missing: give every shard's report directory)"


def test_a_shard_given_twice_is_refused(tmp_path: Path) -> None:
    zero = shard_dir(tmp_path, 0)
    assert refusal(tmp_path, [zero, shard_dir(tmp_path, 1), zero]).startswith("shard 0/2 given twice: ")


def test_shards_of_different_counts_are_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, [shard_dir(tmp_path, 0), shard_dir(tmp_path, 1, of=3)]).startswith(
        "shards of different N: "
    )


def test_shards_with_different_starts_are_refused(tmp_path: Path) -> None:
    given = [shard_dir(tmp_path, 0), shard_dir(tmp_path, 1, start_at=990.0)]
    assert refusal(tmp_path, given) == "shard 1/2 started at T = 990.000, shard 0/2 at 995.000: not one run"


def test_shards_that_ran_other_plans_are_refused(tmp_path: Path) -> None:
    other = shard_dir(tmp_path, 1)
    path = other / "histories" / "built.json"
    saved = json.loads(path.read_text())
    saved["plan"]["hard_deadline"] = 99.0
    path.write_text(json.dumps(saved))
    assert refusal(tmp_path, [shard_dir(tmp_path, 0), other]) == (
        "scenario built: shard 1/2 ran another plan than shard 0/2 (they differ in hard_deadline)"
    )


def test_a_directory_without_shard_json_is_refused_in_one_line(tmp_path: Path) -> None:
    expected = f"{tmp_path}: no {MANIFEST}: not the report directory of a `sse-chaos run --shard`"
    assert refusal(tmp_path, [tmp_path]) == expected


def test_a_manifest_whose_shard_is_not_i_of_n_is_refused(tmp_path: Path) -> None:
    directory = shard_dir(tmp_path, 0)
    manifest = read_manifest(directory)
    (directory / MANIFEST).write_text(manifest.model_dump_json().replace('"0/2"', '"2/2"'))
    assert "not one sse-chaos wrote (a share is I/N with 0 <= I < N, not 2/2)" in refusal(tmp_path, [directory])
    write_manifest(directory, ShardManifest.model_validate(manifest.model_dump()))


def whole_answer(builder: HistoryBuilder) -> None:
    builder.good_stream().baseline()


def test_merge_writes_the_report_and_exits_as_run_does(tmp_path: Path) -> None:
    given = [str(shard_dir(tmp_path, index, stream=whole_answer)) for index in (0, 1)]
    out = tmp_path / "merged"
    result = CliRunner().invoke(app, ["merge", *given, "--report-dir", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True
    assert (out / "histories" / "built.json").is_file()
    assert "shard 1/2: offset +0.0 ms ± 2.0 ms against http-date test (1 samples)" in (out / "report.html").read_text()
    missing = CliRunner().invoke(app, ["merge", given[0], "--report-dir", str(out)], env={"COLUMNS": "300"})
    assert missing.exit_code == 2
    assert missing.output.strip() == "error: shard 1/2 is missing (1 of 2 missing: give every shard's report directory)"


def rewritten(directory: Path, **changes: object) -> Path:
    """The shard's saved history of `built` with `changes` made to it."""
    path = directory / "histories" / "built.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))
    return directory


def test_a_scenario_that_ended_in_an_error_on_one_shard_is_an_error_naming_it(tmp_path: Path) -> None:
    late = "reached scenario built's slot 2.000 s late"
    shards = [shard_dir(tmp_path, 0), rewritten(shard_dir(tmp_path, 1), error=late, anchors=[])]
    (run,) = merge_shards(read_shards(shards), tmp_path / "merged")
    assert (run.verdict, run.error) == ("error", f"shard 1/2: {late}")


def test_a_scenario_a_shard_kept_no_history_of_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = shard_dir(tmp_path, 1)
    (missing / "histories" / "built.json").unlink()
    (run,) = merge_shards(read_shards([shard_dir(tmp_path, 0), missing]), tmp_path / "merged")
    assert (run.verdict, run.error) == ("error", "shard 1/2 has no history of it")


def test_a_scenario_no_shard_played_has_no_applicable_check(tmp_path: Path) -> None:
    """Its clients cannot speak to this target: every shard judged it so without playing it."""
    shards = [rewritten(shard_dir(tmp_path, index), anchors=[], records=[]) for index in (0, 1)]
    (run,) = merge_shards(read_shards(shards), tmp_path / "merged")
    assert run.verdict == "pass"
    assert {result.status for result in run.results} == {Status.NOT_APPLICABLE}
