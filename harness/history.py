"""The history: everything a run observed, timestamped, in one flat list of records, with the
plan it ran and the fault-free baseline it is compared with.

Clients and the nemesis append; checks and reports only read. A history saves to JSON and
loads back unchanged (a history of an earlier format is migrated on load), and becomes a
pandas DataFrame for analysis.

Each client's records are stamped by one event loop: the harness's own, unless `loops` names
another (a worker process's); the checks forgive a late stamp only by the lag of its own loop.

A client's share is bounded, so that a hostile server ends in a verdict and not in memory:
reads that follow each other within a millisecond share one record, and once a client has
`max_records` records or `max_text` characters of text, one `truncated` marker says so and
its later records are dropped (all but its outcome). A run of many clients shares a budget for
the whole history out among them (`share_among`). The harness's own records (the nemesis,
loop lag) are bounded by the plan instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from harness.errors import ConfigurationError
from harness.faults import FaultNote
from harness.migrate import from_format_1, from_format_2
from harness.plan import Plan
from harness.shards.clock import Anchor
from harness.untrusted import printable

if TYPE_CHECKING:
    import pandas as pd

FORMAT = 3

# The catalogue's busiest client keeps 2,500 to 3,000 records (slicer) and 50,000 characters of
# text. At these caps a run whose clients all reach them, and its report, stay under 300 MB
# (bench/hostile_servers.py). An event the parser allows (up to 4 MiB) may pass the text cap:
# its client is then capped, which fails `completion`, as any cap does.
MAX_RECORDS_PER_CLIENT = 10_000
MAX_TEXT_PER_CLIENT = 1 << 20  # characters of data, detail and event id
# What all clients of a run keep together (about 120 MB of records at most): a run of many
# clients shares it out, so that 600 clients of a hostile target cannot hold 6 M records.
MAX_RECORDS_PER_HISTORY = 400_000
MAX_TEXT_PER_HISTORY = 64 << 20
# A read this soon after the one that opened the client's latest record joins it: a link that
# slices a stream finely would fill the history with reads. A silence measured between records
# can grow by less than this.
READ_WINDOW_NS = 1_000_000


class Kind(StrEnum):
    ATTEMPT = "attempt"  # a connection attempt starts (detail: request headers that matter)
    RESPONSE = "response"  # status line and headers arrived (detail: the headers as JSON)
    BYTES = "bytes"  # a read returned nbytes at offset
    EVENT = "event"  # a dispatched SSE event
    COMMENT = "comment"  # a comment line (data: its text)
    DUPLICATE = "duplicate"  # an event whose id was already seen, dropped by the client
    STATE = "state"  # the client's connection state changed (detail: new state)
    ERROR = "error"  # a connection failed or ended (detail: why)
    OUTCOME = "outcome"  # the client finished (outcome: how, detail: why)
    FAULT_START = "fault_start"  # the nemesis applied a fault (event_id: its id, detail: FaultNote JSON)
    FAULT_END = "fault_end"  # the nemesis undid it
    COMMAND = "command"  # what a deployment did for a process fault (event_id: the fault's id, detail: what)
    LOOP_LAG = "loop_lag"  # an event-loop lag sample (lag_us): the harness's (event: which of its loops) or a page's
    CPU_WAIT = "cpu_wait"  # the longest run-queue wait of a process role (event) since the last sample (lag_us)
    DISPLAY = "display"  # what a browser client's page showed at the end (data: answer, detail: JSON)
    TRUNCATED = "truncated"  # the client's records reached the cap; later ones were dropped (detail: the cap)


NEMESIS = "nemesis"
HARNESS = "harness"
_UNBOUNDED = (NEMESIS, HARNESS)
# Who stamps what: the nemesis its faults and commands (and the errors of its own), the harness
# its loops' lag and the CPU waits, a client everything else (a browser client its page's lag too).
_NEMESIS_KINDS = frozenset({Kind.FAULT_START, Kind.FAULT_END, Kind.COMMAND})
_STAMPED_BY = {NEMESIS: _NEMESIS_KINDS | {Kind.ERROR}, HARNESS: frozenset({Kind.LOOP_LAG, Kind.CPU_WAIT})}


@dataclass(slots=True)
class Record:
    t_ns: int
    client: str
    kind: str
    connection: int = -1
    offset: int = -1
    nbytes: int = 0
    status: int = 0
    event: str = ""
    event_id: str = ""
    has_id: bool = False
    data: str = ""
    detail: str = ""
    outcome: str = ""
    lag_us: int = 0


COLUMNS = [f.name for f in fields(Record)]
_TYPES = {f.name: {"int": int, "str": str, "bool": bool}[str(f.type)] for f in fields(Record)}


class Baseline(BaseModel):
    """The target's fault-free answer to the same request; `content` None when the target's
    payload carries no answer text to compare, or when `failure` says why the target did not give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: str | None = None
    reason: str | None = None
    failure: str | None = None
    first_content_s: float | None = None  # from the request: the latency figures' yardstick
    whole_s: float | None = None


@dataclass(slots=True)
class _Share:
    """What one client has spent of the history."""

    records: int = 0
    text: int = 0
    last: Record | None = None  # its latest record, which a read may join
    marker: Record | None = None  # the truncated marker, once the cap was reached


@dataclass
class History:
    """Records in arrival order, plus the plan they ran under (None for a client's own history,
    such as the baseline's) and what the run learnt on the side.

    A browser client's records are stamped in the page and arrive a little later, so across
    clients `t_ns` is ordered only to within a few milliseconds; within a client it is exact.
    """

    plan: Plan | None = None
    records: list[Record] = field(default_factory=list)
    epoch_ns: int = field(default_factory=time.monotonic_ns)
    baseline: Baseline | None = None
    screenshots: list[str] = field(default_factory=list)  # relative to the report directory
    # A shard's: where its clock sits on the common timeline; a merged history's: every shard's.
    anchors: list[Anchor] = field(default_factory=list)
    loops: dict[str, str] = field(default_factory=dict)  # client -> the loop that stamped it, when not HARNESS
    max_records: int = MAX_RECORDS_PER_CLIENT
    max_text: int = MAX_TEXT_PER_CLIENT
    _shares: dict[str, _Share] = field(default_factory=dict, init=False, repr=False, compare=False)

    def share_among(self, clients: int) -> None:
        """Each of `clients` keeps at most its share of the history's budget (and of a client's)."""
        self.max_records = min(MAX_RECORDS_PER_CLIENT, MAX_RECORDS_PER_HISTORY // max(clients, 1))
        self.max_text = min(MAX_TEXT_PER_CLIENT, MAX_TEXT_PER_HISTORY // max(clients, 1))

    def add(self, client: str, kind: Kind, **values: Any) -> None:
        self.add_at(time.monotonic_ns(), client, kind, **values)

    def add_at(self, t_ns: int, client: str, kind: Kind, **values: Any) -> None:
        """A record stamped elsewhere (a browser page), on this process's monotonic clock."""
        record = Record(t_ns, client, kind.value, **values)
        if client in _UNBOUNDED or self._admits(record):
            self.records.append(record)

    def admit(self, record: Record) -> None:
        """A record another process stamped and bounded (a worker's), bounded again here."""
        if record.client in _UNBOUNDED or self._admits(record):
            self.records.append(record)

    def loop_of(self, client: str) -> str:
        """The sampler whose lag may have delayed `client`'s stamps: its loop's (`harness_loop`)."""
        return self.loops.get(client, HARNESS)

    def add_read(self, client: str, connection: int, offset: int, nbytes: int) -> None:
        """A read of `nbytes` at stream `offset`. It joins the client's latest record when that is a
        read of the same connection that ends where this one starts and opened under
        READ_WINDOW_NS ago: a record of reads is stamped with its first, exact for the body's start."""
        now = time.monotonic_ns()
        share = self._shares.get(client)
        last = share.last if share is not None and share.marker is None else None
        if (
            last is not None
            and last.kind == Kind.BYTES
            and last.connection == connection
            and last.offset + last.nbytes == offset
            and now - last.t_ns < READ_WINDOW_NS
        ):
            last.nbytes += nbytes
            return
        self.add_at(now, client, Kind.BYTES, connection=connection, offset=offset, nbytes=nbytes)

    def truncated(self, client: str) -> Record | None:
        """The marker saying `client`'s records reached the cap while this history recorded them."""
        share = self._shares.get(client)
        return share.marker if share is not None else None

    def _admits(self, record: Record) -> bool:
        """Whether the record fits its client's share; the first that does not adds the marker.
        A client's outcome is kept past the cap: it says how the client ended."""
        share = self._shares.get(record.client)
        if share is None:
            share = self._shares[record.client] = _Share()
        if share.marker is None:
            text = len(record.data) + len(record.detail) + len(record.event_id)
            if share.records < self.max_records and share.text + text <= self.max_text:
                share.records, share.text, share.last = share.records + 1, share.text + text, record
                return True
            detail = (
                f"records capped at {share.records} (a client keeps at most {self.max_records} records and"
                f" {self.max_text} characters of text); what came after was not recorded"
            )
            share.marker = Record(record.t_ns, record.client, Kind.TRUNCATED.value, record.connection, detail=detail)
            self.records.append(share.marker)
        return record.kind == Kind.OUTCOME

    def of_kind(self, *kinds: Kind) -> list[Record]:
        wanted = {k.value for k in kinds}
        return [r for r in self.records if r.kind in wanted]

    def latest_response_headers(self, clients: tuple[str, ...]) -> dict[str, str]:
        """The headers (lower-cased names) of the latest 200 response any of `clients` received."""
        for record in reversed(self.records):
            if record.client in clients and record.kind == Kind.RESPONSE and record.status == 200:
                return {name.lower(): str(value) for name, value in json.loads(record.detail or "{}").items()}
        return {}

    def clients(self) -> list[str]:
        names = dict.fromkeys(r.client for r in self.records if r.client not in (NEMESIS, HARNESS))
        return list(names)

    def seconds(self, record: Record) -> float:
        return (record.t_ns - self.epoch_ns) / 1e9

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd  # here: it takes 0.3 s to load, and only reports need frames

        frame = pd.DataFrame.from_records(map(attrgetter(*COLUMNS), self.records), columns=COLUMNS)
        frame.insert(1, "t", (frame["t_ns"] - self.epoch_ns) / 1e9)
        return frame

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plan": self.plan.model_dump(mode="json") if self.plan is not None else None,
            "baseline": self.baseline.model_dump(mode="json") if self.baseline is not None else None,
            "screenshots": self.screenshots,
            "loops": self.loops,
            "anchors": [anchor.model_dump(mode="json") for anchor in self.anchors],
            "epoch_ns": self.epoch_ns,
            "columns": COLUMNS,
            "records": list(map(attrgetter(*COLUMNS), self.records)),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> History:
        """A saved history (an earlier format is migrated); ConfigurationError when it is not one
        this version can read."""
        try:
            if payload.get("format") is None and "meta" in payload:
                payload = from_format_1(payload)
            if payload.get("format") == 2:
                payload = from_format_2(payload)
            if payload.get("format") != FORMAT:
                raise ConfigurationError(
                    f"a history of format {payload.get('format')!r}; this sse-chaos reads {FORMAT} (and 1, 2)"
                )
            records = records_from_rows(payload["columns"], payload["records"])
            return cls(
                plan=Plan.model_validate(payload["plan"]) if payload["plan"] is not None else None,
                records=records,
                epoch_ns=_integer(payload["epoch_ns"], "epoch_ns"),
                baseline=Baseline.model_validate(payload["baseline"]) if payload["baseline"] is not None else None,
                screenshots=list(payload["screenshots"]),
                loops=_loops(payload["loops"]),
                anchors=[Anchor.model_validate(anchor) for anchor in payload["anchors"]],
            )
        except KeyError as error:
            raise ConfigurationError(f"not a history sse-chaos wrote: no {error}") from None
        except (AttributeError, TypeError, ValueError) as error:
            raise ConfigurationError(f"not a history sse-chaos wrote: {str(error).splitlines()[0][:200]}") from None

    @classmethod
    def load(cls, path: Path) -> History:
        return cls.from_json(json.loads(path.read_text()))


def harness_loop(name: str) -> str:
    """The sampler name of one of the harness's loops (a worker's, a merged shard's, a merged shard's
    worker's: "shard1:worker2"): its lag records say `name`."""
    return f"{HARNESS}:{name}" if name else HARNESS


def loop_name(sampler: str) -> str:
    """The name a harness loop's lag records give (`harness_loop`'s inverse): "" for its own loop."""
    return sampler.removeprefix(HARNESS).removeprefix(":")


def records_from_rows(columns: list[str], rows: list[list[Any]]) -> list[Record]:
    """Saved rows as records, every field of its type and every JSON detail readable; ValueError else."""
    if sorted(columns) != sorted(COLUMNS):
        raise ValueError(f"its columns are not {', '.join(COLUMNS)}")
    records = [Record(**dict(zip(columns, row, strict=True))) for row in rows]
    for number, record in enumerate(records):
        for name, kind in _TYPES.items():
            if type(getattr(record, name)) is not kind:
                raise ValueError(f"record {number}: {name} is not {kind.__name__}")
        if (why := _misattributed(record)) is not None:
            raise ValueError(f"record {number}: {why}")
        if record.kind in (Kind.FAULT_START, Kind.FAULT_END):
            FaultNote.model_validate_json(record.detail)
        elif record.kind == Kind.RESPONSE and not isinstance(json.loads(record.detail or "{}"), dict):
            raise ValueError(f"record {number}: response headers are not an object")
    return records


def _misattributed(record: Record) -> str | None:
    """Why `record` cannot have been stamped by the one it names, if it cannot: a fault a client
    applied, a CPU wait a client sampled, a client's event the harness received..."""
    try:
        kind = Kind(record.kind)
    except ValueError:
        return f"{printable(record.kind, 40)} is not a kind of record"
    if kind in _NEMESIS_KINDS and record.client != NEMESIS:
        return f"{kind} of {printable(record.client, 40)}: only the nemesis applies faults"
    if kind == Kind.CPU_WAIT and record.client != HARNESS:
        return f"cpu_wait of {printable(record.client, 40)}: only the harness samples them"
    if record.client in _STAMPED_BY and kind not in _STAMPED_BY[record.client]:
        return f"{kind} of the {record.client}: a client's record"
    return None


def _loops(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("loops is not an object of names")
    return dict(value)


def _integer(value: Any, name: str) -> int:
    if type(value) is not int:
        raise ValueError(f"{name} is not an integer")
    return value
