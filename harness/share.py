"""Which of a plan's clients one process runs, when a scenario's clients are split among
processes (worker processes on one machine, shards on many): every `of`-th client from
`index`. A client keeps its number, its name and its place in the stagger wherever it runs,
so that the merged history is the one a single process would have recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import ConfigurationError

_SHARE = re.compile(r"(\d{1,6})/(\d{1,6})")


@dataclass(frozen=True)
class Share:
    index: int = 0
    of: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.of:
            raise ConfigurationError(f"a share is I/N with 0 <= I < N, not {self.index}/{self.of}")

    @classmethod
    def parse(cls, text: str) -> Share:
        """`I/N`: share I of N, counted from 0."""
        match = _SHARE.fullmatch(text.strip())
        if match is None:
            raise ConfigurationError(f"a share is I/N (such as 0/2), not {text[:40]!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.of == 1

    def indices(self, count: int) -> range:
        """The numbers of this share's clients among `count`."""
        return range(self.index, count, self.of)

    def split(self, part: int, parts: int) -> Share:
        """Part `part` of `parts` of this share (a worker process's of its runner's): every
        `parts`-th of this share's clients from its `part`-th; the parts hold each of them once."""
        Share(part, parts)  # refused in one line unless 0 <= part < parts
        return Share(self.index + part * self.of, self.of * parts)

    def holds(self, client: int) -> bool:
        return client % self.of == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.of}"


WHOLE = Share()  # every client: a process that runs the scenario alone
