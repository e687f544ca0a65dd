"""How long the processes that carry a stream on this machine waited for a CPU.

A heartbeat the target sent on time can still be stamped late when Toxiproxy, Chromium or a
target on this machine was runnable but not running: on a busy machine the scheduler makes
them wait, and no event loop's lag shows it. Linux counts that wait per thread (the second
field of /proc/PID/task/TID/schedstat: nanoseconds spent runnable on a run queue). Sampled with
the harness's loop lag, the largest wait of any one thread of each role since the last sample
becomes a `cpu_wait` record: evidence the heartbeat check may lean on, bounded by it.

Only the threads a stream goes through count: every thread of Toxiproxy (Go runs a goroutine on
any of them) and of a deployment's HAProxy or nginx, a Chromium process's main and IO threads (not
its background pools, which may wait for seconds at low priority and carry no stream), each
embedded server instance's one event-loop thread.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
# Who carries a stream, by the process's name (as /proc/PID/comm cuts it, at 15 characters).
_ROLE_BY_NAME = {
    "toxiproxy-serve": "toxiproxy",
    "chromium": "browser",
    "chrome": "browser",
    "haproxy": "balancer",  # a deployment's load balancer, or its buffering proxy
    "nginx": "balancer",
}
_EVERY_THREAD_CARRIES = ("toxiproxy", "balancer")  # Go's threads run any goroutine; a proxy's any connection
_TARGET_MARK = b"reference_server"  # the embedded reference server: python -m reference_server
_FIND_EVERY_SECONDS = 0.5  # how often the harness's descendants are listed again (pages start renderers)
_BROWSER_IO_THREADS = ("Chrome_IOThread", "Chrome_ChildIOT")  # cut at 15 characters, like every name here


def available(proc: Path = PROC) -> bool:
    """Whether this kernel counts run-queue waits (Linux with scheduler statistics)."""
    return (proc / "self" / "schedstat").is_file()


class CpuWaits:
    """The run-queue waits of `root`'s descendants that carry streams, by role, sample by sample."""

    def __init__(self, root: int | None = None, proc: Path = PROC) -> None:
        self.root = os.getpid() if root is None else root
        self.proc = proc
        self._roles: dict[int, str] = {}
        self._found_at: float | None = None
        self._waited: dict[tuple[int, int], int] = {}  # (pid, tid): nanoseconds waited so far
        self._carries: dict[tuple[int, int], bool] = {}  # (pid, tid): whether a stream goes through it

    def sample(self, now: float) -> dict[str, int]:
        """The longest any one thread of each role waited since the last sample, in microseconds
        (a thread seen for the first time counts from the next sample)."""
        if self._found_at is None or now - self._found_at >= _FIND_EVERY_SECONDS:
            self._roles, self._found_at = self._descendants_by_role(), now
        longest: dict[str, int] = {}
        waited: dict[tuple[int, int], int] = {}
        for pid, role in self._roles.items():
            for tid, nanoseconds in self._thread_waits(pid, role):
                before = self._waited.get((pid, tid))
                waited[(pid, tid)] = nanoseconds
                if before is not None:
                    longest[role] = max(longest.get(role, 0), (nanoseconds - before) // 1000)
        self._waited = waited
        return longest

    def _thread_waits(self, pid: int, role: str) -> list[tuple[int, int]]:
        """(tid, nanoseconds waited) of each of the process's threads a stream goes through."""
        waits = []
        try:
            tasks = list((self.proc / str(pid) / "task").iterdir())
        except OSError:  # the process ended
            return []
        for task in tasks:
            try:
                tid = int(task.name)
                key = (pid, tid)
                if key not in self._carries:
                    self._carries[key] = _carries(role, pid, tid, (task / "comm").read_text().strip())
                if self._carries[key]:
                    waits.append((tid, int((task / "schedstat").read_text().split()[1])))
            except (OSError, ValueError, IndexError):
                continue
        return waits

    def _descendants_by_role(self) -> dict[int, str]:
        children: dict[int, list[int]] = {}
        for pid, parent in self._parents():
            children.setdefault(parent, []).append(pid)
        roles, pending = {}, list(children.get(self.root, []))
        while pending:
            pid = pending.pop()
            pending.extend(children.get(pid, []))
            role = self._role(pid)
            if role is not None:
                roles[pid] = role
        return roles

    def _parents(self) -> list[tuple[int, int]]:
        pairs = []
        for entry in self.proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                # after the name, which may hold spaces and parentheses: state, then the parent
                pairs.append((int(entry.name), int(stat[stat.rindex(")") + 2 :].split()[1])))
            except (OSError, ValueError, IndexError):
                continue
        return pairs

    def _role(self, pid: int) -> str | None:
        try:
            name = (self.proc / str(pid) / "comm").read_text().strip()
            if name in _ROLE_BY_NAME:
                return _ROLE_BY_NAME[name]
            if name.startswith("python") and _TARGET_MARK in (self.proc / str(pid) / "cmdline").read_bytes():
                return "target"
        except OSError:
            return None
        return None


def _carries(role: str, pid: int, tid: int, thread_name: str) -> bool:
    if role in _EVERY_THREAD_CARRIES:
        return True
    return tid == pid or (role == "browser" and thread_name in _BROWSER_IO_THREADS)
