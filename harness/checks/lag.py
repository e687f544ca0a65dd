"""The event loops that stamp records: their lag samples, and the lag that may have delayed one stamp."""

from __future__ import annotations

from harness.histograms import Histogram
from harness.history import HARNESS, History, Kind, Record, harness_loop

LagSamples = list[tuple[float, float]]  # (when the sample was taken, how late the loop woke), seconds
CPU_WAIT = "cpu_wait"  # samples of how long a process carrying streams waited for a CPU: "cpu_wait:ROLE"
# "cpu_wait:ROLE@LOOP": a wait on the machine of harness loop LOOP only (a merged shard's);
# without it, on the machine of every stream of the run
_ON = "@"


def lag_samples(history: History) -> dict[str, LagSamples]:
    """Samples by who took them: the harness's loop (HARNESS), a worker process's ("harness:worker1"), a
    merged shard's ("harness:shard1", "harness:shard1:worker1"),
    a browser client's page (its name), and the run-queue waits of each role of process carrying
    streams ("cpu_wait:toxiproxy"...), which delay a stamp the way a blocked loop does."""
    samples: dict[str, LagSamples] = {}
    for record in history.of_kind(Kind.LOOP_LAG, Kind.CPU_WAIT):
        samples.setdefault(_sampler(record), []).append((history.seconds(record), record.lag_us / 1e6))
    return samples


def stamp_lags(history: History, samples: dict[str, LagSamples], client: str) -> LagSamples:
    """The lag that may have delayed `client`'s stamps: its own loop's (the harness's, the worker
    process's or the shard's that ran it; never another's), and its page's when it is a browser client."""
    return samples.get(history.loop_of(client), []) + samples.get(client, [])


def _sampler(record: Record) -> str:
    if record.kind == Kind.CPU_WAIT:
        return f"{CPU_WAIT}:{record.event}"
    return harness_loop(record.event) if record.client == HARNESS else record.client


def cpu_waits(samples: dict[str, LagSamples], loop: str = HARNESS) -> LagSamples:
    """Every process role's run-queue waits on the machine of harness `loop`, together: any of them
    may have held a stream back there."""
    return [
        sample
        for sampler, taken in samples.items()
        if sampler.startswith(CPU_WAIT) and _on_machine_of(loop, sampler.partition(_ON)[2])
        for sample in taken
    ]


def waited_on_machine_of(role: str, loop: str) -> str:
    """A CPU wait record's event when it was sampled on the machine of harness `loop` only."""
    return f"{role}{_ON}{loop}"


def _on_machine_of(loop: str, machine: str) -> bool:
    """Whether `loop` ran on `machine` (a merged shard's loop, "" for the one machine of an unmerged
    run): the shard's own loop, or one of its workers' ("harness:shard1:worker2")."""
    return machine in ("", loop) or loop.startswith(f"{machine}:")


def lag_at(samples: LagSamples, stamped: float, after_sample: float) -> float:
    """The most a stamp made at `stamped` may have been delayed by its loop being blocked.

    A sample at t with lag L says the loop was blocked during [t - L, t]; a record stamped in that
    window, or while the backlog the block left drained (within one sampling period after t: the
    next sample only shows a backlog longer than that), may be late by up to L. Lag that ended
    before the stamp, or began after it, delayed it not at all.
    """
    return lag_within(samples, stamped, stamped, after_sample)


def lag_within(samples: LagSamples, start: float, end: float, after_sample: float) -> float:
    """The most the loop was blocked at any moment of [start, end] (a sample's window reaching
    into it, or taken within one sampling period after its start)."""
    return max((lag for at, lag in samples if at + after_sample >= start and at - lag <= end), default=0.0)


def lag_histograms(samples: dict[str, LagSamples]) -> dict[str, Histogram]:
    """The harness's loop lag (all its loops together, worker processes' and shards' too:
    "harness_loop_lag") and the browser pages' (all pages together, "page_loop_lag")."""
    histograms: dict[str, Histogram] = {}
    for sampler, taken in samples.items():
        if not sampler.startswith(CPU_WAIT):  # only waits of a millisecond or more are kept: no percentiles
            name = _loop(sampler)
            histogram = histograms.setdefault(name, Histogram(name))
            for _, lag in taken:
                histogram.record(lag)
    return histograms


def lag_summary(samples: dict[str, LagSamples], histograms: dict[str, Histogram]) -> dict[str, float]:
    """p99 and max of the harness's loop lag and of the browser pages' (read from `lag_histograms`),
    and the longest run-queue wait of each process role (on every shard's machine together), in ms."""
    waits: dict[str, float] = {}
    for sampler, taken in samples.items():
        if sampler.startswith(CPU_WAIT):
            role = sampler.partition(_ON)[0].replace(":", "_")
            waits[role] = max(waits.get(role, 0.0), *(lag for _, lag in taken))
    evidence = {f"{role}_max_ms": round(waited * 1000, 2) for role, waited in waits.items()}
    for name, histogram in sorted(histograms.items()):
        evidence[f"{name}_p99_ms"] = round(histogram.percentile(99) * 1000, 2)
        evidence[f"{name}_max_ms"] = round(histogram.largest() * 1000, 2)
    return evidence


def loop_maxima(samples: dict[str, LagSamples]) -> dict[str, float]:
    """The largest lag of each loop, by its sampler's name, in seconds: the sample itself, not its
    bucket, for what is judged against the tolerance."""
    return {
        sampler: max(lag for _, lag in taken) for sampler, taken in samples.items() if not sampler.startswith(CPU_WAIT)
    }


def _loop(sampler: str) -> str:
    return "harness_loop_lag" if sampler.startswith(HARNESS) else "page_loop_lag"
