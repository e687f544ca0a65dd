"""The processes a test's process (or another) started, read from /proc: what `ps --ppid` shows."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def children(pid: int | None = None) -> set[int]:
    pid = os.getpid() if pid is None else pid
    with contextlib.suppress(OSError):
        return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    return set()


def alive(pid: int) -> bool:
    """Running, or stopped; not a zombie nor gone."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def state(pid: int) -> str:
    """The kernel's one-letter state: R running, S sleeping, T stopped (SIGSTOP)..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
