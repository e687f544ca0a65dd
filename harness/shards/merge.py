"""`sse-chaos merge`: the shards' report directories made one run.

The shards must agree (one of each I of one N, one T, the same scenarios, slots and plans, clocks
known closely enough); then each scenario's records are moved onto the reference clock (each
shard's monotonic clock through its anchor); a shard's harness loops keep their own names (its
lag samples say "shard1", its workers' "shard1:worker2"), so that a loop's lag forgives only its
own clients; and each fault's windows on the shards become one, from the earliest start to the
latest end: the checks widen it by how far the clocks may disagree.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from harness.checks import none_applicable
from harness.checks.lag import waited_on_machine_of
from harness.client import client_name
from harness.errors import ConfigurationError
from harness.faults import FaultNote
from harness.history import HARNESS, NEMESIS, History, Kind, Record, harness_loop, loop_name
from harness.report import HISTORIES, judged, load_saved_run
from harness.results import ScenarioRun
from harness.shards.clock import too_uncertain
from harness.shards.manifest import ShardManifest, read_manifest
from harness.share import Share
from harness.untrusted import printable

_FAULT_KINDS = (Kind.FAULT_START.value, Kind.FAULT_END.value)


@dataclass
class ShardDir:
    path: Path
    manifest: ShardManifest
    runs: dict[str, ScenarioRun]  # by scenario name, as saved (not judged)

    @property
    def name(self) -> str:
        return self.manifest.shard


def read_shards(directories: list[Path]) -> list[ShardDir]:
    """Every shard's directory, in shard order; ConfigurationError (one line) when they do not make one run."""
    manifests = [(directory, read_manifest(directory)) for directory in directories]
    _one_of_each(manifests)
    shards = [ShardDir(directory, manifest, _saved_runs(directory)) for directory, manifest in manifests]
    shards.sort(key=lambda shard: shard.manifest.share.index)
    first = shards[0]
    for shard in shards[1:]:
        if shard.manifest.start_at != first.manifest.start_at:
            raise ConfigurationError(
                f"shard {shard.name} started at T = {shard.manifest.start_at:.3f}, shard {first.name} at"
                f" {first.manifest.start_at:.3f}: not one run"
            )
        if shard.manifest.slots != first.manifest.slots:
            raise ConfigurationError(f"shard {shard.name} ran other scenarios or slots than shard {first.name}")
        _same_plans(first, shard)
    for shard in shards:
        if (why := too_uncertain(shard.manifest.clock, f"shard {shard.name}")) is not None:
            raise ConfigurationError(why)
        _own_clients_only(shard)
    return shards


def _one_of_each(manifests: list[tuple[Path, ShardManifest]]) -> None:
    counts = {manifest.share.of for _, manifest in manifests}
    if len(counts) > 1:
        said = ", ".join(f"{printable(str(path))} is {manifest.shard}" for path, manifest in manifests)
        raise ConfigurationError(f"shards of different N: {said}")
    seen: dict[int, Path] = {}
    for path, manifest in manifests:
        if (other := seen.get(manifest.share.index)) is not None:
            raise ConfigurationError(
                f"shard {manifest.shard} given twice: {printable(str(other))} and {printable(str(path))}"
            )
        seen[manifest.share.index] = path
    count = counts.pop()
    missing = [index for index in range(count) if index not in seen]
    if missing:
        raise ConfigurationError(
            f"shard {missing[0]}/{count} is missing ({len(missing)} of {count} missing:"
            " give every shard's report directory)"
        )


def _saved_runs(directory: Path) -> dict[str, ScenarioRun]:
    runs = (load_saved_run(path) for path in sorted((directory / HISTORIES).glob("*.json")))
    return {run.name: run for run in runs}


def _same_plans(first: ShardDir, shard: ShardDir) -> None:
    for name, run in shard.runs.items():
        theirs, ours = run.history.plan, first.runs[name].history.plan if name in first.runs else None
        if theirs is not None and ours is not None and theirs != ours:
            mine, other = ours.model_dump(), theirs.model_dump()
            fields = ", ".join(key for key in mine if mine[key] != other.get(key))
            raise ConfigurationError(
                f"scenario {name}: shard {shard.name} ran another plan than shard {first.name}"
                f" (they differ in {fields})"
            )


def _own_clients_only(shard: ShardDir) -> None:
    """A shard's histories hold records of its own clients only (and of its harness and nemesis):
    a record naming another shard's client would make that client judged by this shard's loop."""
    share = shard.manifest.share
    for name, run in shard.runs.items():
        if (plan := run.history.plan) is None:
            continue
        own = {client_name(plan, index) for index in share.indices(plan.clients.count)} | {HARNESS, NEMESIS}
        strangers = [client for client in dict.fromkeys(r.client for r in run.history.records) if client not in own]
        if strangers:
            raise ConfigurationError(
                f"shard {shard.name}'s history of {printable(name, 80)} holds records of"
                f" {printable(strangers[0], 40)}, not one of its clients ({len(strangers)} such)"
            )


def merge_shards(shards: list[ShardDir], out: Path) -> list[ScenarioRun]:
    """One judged run per scenario (in slot order); the shards' screenshots copied into `out`."""
    runs = []
    for name in sorted(shards[0].manifest.slots, key=shards[0].manifest.slots.__getitem__):
        runs.append(merged_run(name, shards))
        _copy_screenshots(runs[-1].history, shards, out)
    return runs


def merged_run(name: str, shards: list[ShardDir]) -> ScenarioRun:
    """The shards' runs of scenario `name` as one: judged when every shard played it; an error
    naming the shards whose run ended in one."""
    parts = {shard.name: shard.runs.get(name) for shard in shards}
    saved = [run for run in parts.values() if run is not None]
    first = saved[0] if saved else ScenarioRun(name, "", History())
    wall_seconds = max((run.wall_seconds for run in saved), default=0.0)
    errors = [error for who, run in parts.items() if (error := _shard_error(who, run)) is not None]
    if saved and len(saved) == len(parts) and all(run.history.anchors for run in saved):
        history = merged_history([run.history for run in saved])
        merged = judged(ScenarioRun(name, first.description, history, wall_seconds=wall_seconds))
        merged.error = "; ".join(errors) or None
        return merged
    plan = first.history.plan
    if not errors and plan is not None and not any(run.history.anchors for run in saved):
        run = ScenarioRun(name, first.description, first.history, wall_seconds=wall_seconds)
        run.results = none_applicable(plan, "no shard played it: its checks do not apply to this target")
        return run
    error = "; ".join(errors) or "the shards did not all play it"
    return ScenarioRun(name, first.description, History(plan=plan), error=error, wall_seconds=wall_seconds)


def _shard_error(who: str, run: ScenarioRun | None) -> str | None:
    if run is None:
        return f"shard {who} has no history of it"
    return f"shard {who}: {printable(run.error, 300)}" if run.error else None


def merged_history(parts: list[History]) -> History:
    """The shards' histories of one scenario on the reference clock, as one history."""
    records: list[Record] = []
    faults: list[list[Record]] = []
    loops: dict[str, str] = {}
    for history in parts:
        (anchor,) = history.anchors
        shard = f"shard{Share.parse(anchor.shard).index}"
        moved = [
            dataclasses.replace(record, t_ns=anchor.aligned_ns(record.t_ns), event=_event_on(shard, record))
            for record in history.records
        ]
        records += [record for record in moved if record.kind not in _FAULT_KINDS]
        faults.append([record for record in moved if record.kind in _FAULT_KINDS])
        for client in history.clients():
            loops[client] = harness_loop(_loop_on(shard, loop_name(history.loop_of(client))))
    records += _fault_hulls(faults)
    records.sort(key=attrgetter("t_ns"))
    failed = [part.baseline for part in parts if part.baseline is not None and part.baseline.failure]
    return History(
        plan=parts[0].plan,
        records=records,
        epoch_ns=round(parts[0].anchors[0].slot_s * 1e9),
        baseline=failed[0] if failed else parts[0].baseline,
        screenshots=[shot for part in parts for shot in part.screenshots],
        anchors=[anchor for part in parts for anchor in part.anchors],
        loops=loops,
    )


def _event_on(shard: str, record: Record) -> str:
    """A harness record's event, naming the shard's loop: its lag samples, and the waits on its machine."""
    if record.client != HARNESS:
        return record.event
    if record.kind == Kind.LOOP_LAG:
        return _loop_on(shard, record.event)
    return waited_on_machine_of(record.event, harness_loop(shard)) if record.kind == Kind.CPU_WAIT else record.event


def _loop_on(shard: str, loop: str) -> str:
    """A shard's loop, by the name its lag samples give: its own ("shard1") or one of its workers'
    ("shard1:worker2")."""
    return f"{shard}:{loop}" if loop else shard


def _fault_hulls(shards: list[list[Record]]) -> list[Record]:
    """Each fault's k-th window on every shard made one: its earliest start and, once every shard
    ended it, its latest end (else it lasts to the end of the history)."""
    starts: dict[tuple[str, int], list[Record]] = {}
    ends: dict[tuple[str, int], list[Record]] = {}
    for records in shards:
        started: Counter[str] = Counter()
        ended: Counter[str] = Counter()
        for record in records:
            counter, found = (started, starts) if record.kind == Kind.FAULT_START else (ended, ends)
            found.setdefault((record.event_id, counter[record.event_id]), []).append(record)
            counter[record.event_id] += 1
    hulls = []
    for key, opened in starts.items():
        hulls.append(_joined(min(opened, key=attrgetter("t_ns")), opened))
        closed = ends.get(key, [])
        if len(closed) == len(opened):
            hulls.append(_joined(max(closed, key=attrgetter("t_ns")), closed))
    return hulls


def _joined(edge: Record, edges: list[Record]) -> Record:
    """The outermost of the shards' `edges` of a window, its note saying how far apart they were."""
    apart = (max(other.t_ns for other in edges) - min(other.t_ns for other in edges)) / 1e9
    note = FaultNote.model_validate_json(edge.detail).model_copy(update={"shards_apart_s": apart})
    return dataclasses.replace(edge, detail=note.model_dump_json())


def _copy_screenshots(history: History, shards: list[ShardDir], out: Path) -> None:
    """A browser client's screenshot, from whichever shard ran it (its name is the same everywhere)."""
    for relative in history.screenshots:
        for shard in shards:
            source = (shard.path / relative).resolve()
            if source.is_relative_to(shard.path.resolve()) and source.is_file():
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                break
