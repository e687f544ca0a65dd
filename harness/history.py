"""The history: everything a run observed, timestamped, in one flat list of records.

Clients and the fault injector append; checks and reports only read. A history saves to
JSON and loads back unchanged, and becomes a pandas DataFrame for analysis.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from typing import Any

import pandas as pd


class Kind(StrEnum):
    ATTEMPT = "attempt"  # a connection attempt starts (detail: request headers that matter)
    RESPONSE = "response"  # status line and headers arrived
    BYTES = "bytes"  # a read returned nbytes at offset
    EVENT = "event"  # a dispatched SSE event
    COMMENT = "comment"  # a comment line
    DUPLICATE = "duplicate"  # an event whose id was already seen, dropped by the client
    STATE = "state"  # the client's connection state changed (detail: new state)
    ERROR = "error"  # a connection failed or ended (detail: why)
    OUTCOME = "outcome"  # the client finished (detail: outcome)
    FAULT_START = "fault_start"  # the nemesis applied a fault (detail: its description)
    FAULT_END = "fault_end"  # the nemesis removed it
    LOOP_LAG = "loop_lag"  # the harness's own event-loop lag sample (nbytes: microseconds)
    DISPLAY = "display"  # what a browser client's page showed at the end (data: answer, detail: JSON)


NEMESIS = "nemesis"
HARNESS = "harness"


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


COLUMNS = [f.name for f in fields(Record)]


@dataclass
class History:
    """Records in arrival order, plus what the run knew up front (scenario, target, timings).

    A browser client's records are stamped in the page and arrive a little later, so across
    clients `t_ns` is ordered only to within a few milliseconds; within a client it is exact.
    """

    meta: dict[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    epoch_ns: int = field(default_factory=time.monotonic_ns)

    def add(self, client: str, kind: Kind, **values: Any) -> Record:
        return self.add_at(time.monotonic_ns(), client, kind, **values)

    def add_at(self, t_ns: int, client: str, kind: Kind, **values: Any) -> Record:
        """A record stamped elsewhere (a browser page), on this process's monotonic clock."""
        record = Record(t_ns, client, kind.value, **values)
        self.records.append(record)
        return record

    def of_kind(self, *kinds: Kind) -> list[Record]:
        wanted = {k.value for k in kinds}
        return [r for r in self.records if r.kind in wanted]

    def clients(self) -> list[str]:
        names = dict.fromkeys(r.client for r in self.records if r.client not in (NEMESIS, HARNESS))
        return list(names)

    def seconds(self, record: Record) -> float:
        return (record.t_ns - self.epoch_ns) / 1e9

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(map(attrgetter(*COLUMNS), self.records), columns=COLUMNS)
        frame.insert(1, "t", (frame["t_ns"] - self.epoch_ns) / 1e9)
        return frame

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "epoch_ns": self.epoch_ns,
            "columns": COLUMNS,
            "records": list(map(attrgetter(*COLUMNS), self.records)),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> History:
        columns = payload["columns"]
        records = [Record(**dict(zip(columns, row, strict=True))) for row in payload["records"]]
        return cls(meta=payload["meta"], records=records, epoch_ns=payload["epoch_ns"])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> History:
        return cls.from_json(json.loads(path.read_text()))
