"""What goes over a worker's pipes, one JSON object a line.

The worker says `ready` once it can run clients. The coordinator writes its spec to the
worker's stdin (the only way a credential given with -H reaches it: never its argv, its
environment or a file), the worker says `ready` again once its clients are set, and when the
scenario's clock starts the coordinator writes `Start`: the monotonic time client 0 starts (a
pipe's line, not a process start, is what may be late by a millisecond). The coordinator then
keeps stdin open: its end tells the worker to stop. Meanwhile the worker writes batches of
records (rows in the order of `harness.history.COLUMNS`) and how many clients finished since the
last batch, and at last `done`, or an `error` saying why it could not go on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.plan import Plan

# A worker's batches are cut at this size, and a line over the limit is refused: one record may
# be as large as a client's text budget (1 Mi characters), up to 6 bytes each once escaped.
BATCH_BYTES = 1 << 20
MAX_LINE_BYTES = 16 << 20


class WorkerSpec(BaseModel):
    """A worker's part of a scenario: which clients, through which proxy, from when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: Plan
    headers: dict[str, str]  # the run's -H headers: credentials, over the pipe only
    proxy: tuple[str, int]  # the scenario's Toxiproxy proxy, where every client connects
    share: tuple[int, int]  # (index, of): the worker runs the plan's clients of that `Share`
    loop: str  # the name its lag samples carry (`harness.history.harness_loop`)
    max_records: int  # each client's budget of the history, as the coordinator's history grants it
    max_text: int


class Start(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_ns: int  # time.monotonic_ns() at which client 0 starts; client i starts i staggers later


class Report(BaseModel):
    """One line a worker writes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ready: bool = False
    rows: list[list[Any]] = []
    finished: int = 0  # clients that ended since the previous report
    done: bool = False
    error: str | None = None


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_defaults=True).encode() + b"\n"


def batches(rows: list[tuple[Any, ...]], finished: int) -> Iterator[bytes]:
    """Report lines carrying `rows`, each of about BATCH_BYTES at most (one row may pass it
    alone); the first says how many clients finished. Always at least one line."""
    encoded = [json.dumps(row, ensure_ascii=False) for row in rows]
    start, size = 0, 0
    for end, text in enumerate(encoded):
        if size + len(text) > BATCH_BYTES and end > start:
            yield _line(encoded[start:end], finished)
            start, size, finished = end, 0, 0
        size += len(text) + 1
    yield _line(encoded[start:], finished)


def _line(rows: list[str], finished: int) -> bytes:
    return f'{{"rows":[{",".join(rows)}],"finished":{finished}}}\n'.encode()
